import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { LockHandle } from '../../platform/lock';
import { OrderEntity } from './order.entity';
import { ORDER_EVENTS_LISTENER, ORDER_PAID, type OrderEventsListener } from './order-events';
import {
  holdExpired,
  orderAlreadyPaid,
  orderNotFound,
  paymentDeclined,
  paymentProviderFailed,
  staleLockHolder,
} from './orders.errors';
import {
  InjectPaymentProvider,
  PaymentDeclinedError,
  PaymentProviderError,
  type PaymentProvider,
} from './payment-provider';

/**
 * Pays an order, holding the lock `order:{id}` (the controller's `@WithLock`). The lock keeps two
 * payments of one order from running at once; the fencing token keeps a holder that lost the lock
 * (paused past its hold) from writing after the next one; the provider charges an order at most
 * once. Together: an order is never charged twice.
 */
@Injectable()
export class PaymentsService {
  private readonly logger = new Logger('Payments');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectPaymentProvider() private readonly provider: PaymentProvider,
    @Optional() @Inject(ORDER_EVENTS_LISTENER) private readonly listener?: OrderEventsListener,
  ) {}

  async pay(orderId: string, userId: string, lock: Pick<LockHandle, 'token' | 'signal'>): Promise<OrderEntity> {
    const orders = this.dataSource.getRepository(OrderEntity);
    const order = await orders.findOneBy({ id: orderId, userId });
    if (!order) throw orderNotFound();
    if (order.status === 'paid') throw orderAlreadyPaid();
    if (order.status === 'expired' || new Date(order.holdExpiresAt).getTime() <= Date.now()) throw holdExpired();

    let chargeId: string;
    try {
      chargeId = (await this.provider.charge({ orderId, amountCents: order.amountCents, currency: order.currency })).id;
    } catch (error) {
      if (error instanceof PaymentDeclinedError) throw paymentDeclined(error.message);
      if (error instanceof PaymentProviderError) throw paymentProviderFailed();
      throw error;
    }

    // The write is fenced: it matches only if no later lock holder has written this order. The
    // same statement records `order.paid` in the outbox, so paid and "event recorded" are one fact.
    const [paid] = (await this.dataSource.query(
      `WITH paid AS (
         UPDATE orders SET status = 'paid', payment_id = $2, fence_token = $3, paid_at = now(), updated_at = now()
          WHERE id = $1 AND status = 'held' AND fence_token < $3
         RETURNING id, event_id, quantity, amount_cents, currency, paid_at
       ), recorded AS (
         INSERT INTO order_events (type, order_id, organizer_id, payload)
         SELECT $4, p.id, e.organizer_id, jsonb_build_object(
                  'orderId', p.id, 'eventId', p.event_id, 'quantity', p.quantity, 'amountCents', p.amount_cents,
                  'currency', p.currency,
                  'paidAt', to_char(p.paid_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
           FROM paid p JOIN events e ON e.id = p.event_id
         RETURNING id
       ) SELECT paid.id, recorded.id AS event_record_id FROM paid LEFT JOIN recorded ON true`,
      [orderId, chargeId, lock.token, ORDER_PAID],
    )) as { id: string; event_record_id: string | null }[];
    if (paid) {
      if (paid.event_record_id) this.listener?.recorded(paid.event_record_id, ORDER_PAID);
      return (await orders.findOneBy({ id: orderId }))!;
    }

    const now = await orders.findOneBy({ id: orderId });
    if (now?.status === 'paid') {
      // Another holder paid it (with the same, single charge): this request was superseded.
      throw now.paymentId === chargeId ? staleLockHolder() : orderAlreadyPaid();
    }
    if (now?.status === 'expired') {
      // The hold ran out while the charge was made: the seats are gone, so the money goes back.
      await this.provider.refund(chargeId);
      this.logger.warn(`Refunded charge ${chargeId}: the hold of order ${orderId} expired during payment`);
      throw holdExpired();
    }
    throw staleLockHolder();
  }
}
