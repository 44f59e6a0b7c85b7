/** The webhooks domain's settings (from the environment, see AppModule). */
export interface WebhooksSettings {
  /** Tries per delivery, the first included; after the last one the delivery is dead. */
  attempts: number;
  /** First retry delay in ms; it doubles on each retry (exponential, with 50 % jitter). */
  backoffMs: number;
  /** One attempt's budget, DNS and connection included, in ms. */
  timeoutMs: number;
  /** Accept `http://` destinations (development and tests only; refused in production by the config). */
  allowHttp: boolean;
  /** Non-public IPs or CIDR ranges webhooks may still go to (e.g. `127.0.0.1` in tests). */
  allowedPrivateAddresses: string[];
  /** How often each instance publishes missed outbox rows and re-enqueues stranded deliveries; 0 only at start. */
  sweepIntervalMs: number;
}

export const WEBHOOKS_SETTINGS = Symbol('WEBHOOKS_SETTINGS');

export const WEBHOOKS_QUEUE = 'webhooks';
/** The name of a delivery job (one attempt run of one delivery). */
export const DELIVERY_JOB = 'deliver';

/** What a delivery job carries; the delivery's row holds the rest. */
export interface DeliveryJobData {
  deliveryId: string;
}

/** Active endpoints an organizer may have: each one multiplies the deliveries of every paid order. */
export const MAX_ENDPOINTS_PER_ORGANIZER = 10;

/** The job of a delivery's current run: its id, then `<id>-r<n>` after the n-th replay (a fresh job, not a no-op). */
export const jobIdOf = (delivery: { id: string; replays: number }) =>
  delivery.replays === 0 ? delivery.id : `${delivery.id}-r${delivery.replays}`;
