/** The orders domain's settings (from the environment, see AppModule). */
export interface OrdersSettings {
  /** How long reserved seats are held before they return to the event. */
  holdMs: number;
  /** How often each instance returns the seats of expired holds (0: only lazily, on reservation). */
  sweepIntervalMs: number;
}

export const ORDERS_SETTINGS = Symbol('ORDERS_SETTINGS');
