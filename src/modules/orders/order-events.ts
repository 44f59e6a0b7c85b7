/** The outbox event type written in the same statement that marks an order paid. */
export const ORDER_PAID = 'order.paid';

/**
 * What `order_events.payload` holds for `order.paid` (camelCase, as the API speaks). The row is
 * written by the paid UPDATE itself, so an order is paid if and only if its event exists.
 */
export interface OrderPaidPayload {
  orderId: string;
  eventId: string;
  quantity: number;
  amountCents: number;
  currency: string;
  /** ISO 8601, UTC. */
  paidAt: string;
}

/**
 * Told after an outbox row was committed, so a consumer (webhooks) can publish it at once instead
 * of on its next sweep. A hint only: it must not throw or wait, and losing it loses nothing, as
 * the row is in the table.
 */
export interface OrderEventsListener {
  recorded(eventId: string, type: string): void;
}

export const ORDER_EVENTS_LISTENER = Symbol('ORDER_EVENTS_LISTENER');
