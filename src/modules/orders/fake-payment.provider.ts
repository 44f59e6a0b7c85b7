import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import {
  PaymentDeclinedError,
  PaymentProviderError,
  type Charge,
  type ChargeRequest,
  type PaymentProvider,
} from './payment-provider';

export interface FakePaymentOptions {
  /** Time each charge takes, in ms. */
  latencyMs: number;
  /** Share of charges that fail (0–1): half declined, half a provider error. */
  failureRate: number;
}

/**
 * A provider that keeps its ledger in the database (`fake_provider_charges`, one row per order),
 * so tests and several instances see the same charges. Latency and failures are configurable.
 */
export class FakePaymentProvider implements PaymentProvider {
  constructor(
    private readonly dataSource: DataSource,
    private readonly options: FakePaymentOptions,
  ) {}

  async charge({ orderId, amountCents, currency }: ChargeRequest): Promise<Charge> {
    if (this.options.latencyMs > 0) await sleep(this.options.latencyMs);
    const roll = Math.random();
    if (roll < this.options.failureRate / 2) throw new PaymentDeclinedError('The card was declined');
    if (roll < this.options.failureRate) throw new PaymentProviderError('The payment provider did not answer');
    const id = `ch_${randomBytes(12).toString('base64url')}`;
    await this.dataSource.query(
      `INSERT INTO fake_provider_charges (id, order_id, amount_cents, currency) VALUES ($1, $2, $3, $4)
       ON CONFLICT (order_id) DO NOTHING`,
      [id, orderId, amountCents, currency],
    );
    const [charge] = (await this.dataSource.query('SELECT id FROM fake_provider_charges WHERE order_id = $1', [
      orderId,
    ])) as { id: string }[];
    return { id: charge!.id };
  }

  async refund(chargeId: string): Promise<void> {
    await this.dataSource.query('UPDATE fake_provider_charges SET refunded = true WHERE id = $1', [chargeId]);
  }
}
