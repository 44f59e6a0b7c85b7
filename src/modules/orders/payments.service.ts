import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { LockHandle } from '../../platform/lock';
import { OrderEntity } from './order.entity';
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

    // The write is fenced: it matches only if no later lock holder has written this order.
    const [paid] = (await this.dataSource.query(
      `WITH paid AS (
         UPDATE orders SET status = 'paid', payment_id = $2, fence_token = $3, paid_at = now(), updated_at = now()
          WHERE id = $1 AND status = 'held' AND fence_token < $3
         RETURNING id
       ) SELECT id FROM paid`,
      [orderId, chargeId, lock.token],
    )) as { id: string }[];
    if (paid) return (await orders.findOneBy({ id: orderId }))!;

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
