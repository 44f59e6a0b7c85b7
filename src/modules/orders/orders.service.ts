import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { SqlPool, toDate } from '../../platform/database';
import type { SessionUser } from '../../platform/session';
import type { ListOrdersQuery } from './dto/list-orders.query';
import { OrderEntity } from './order.entity';
import { orderNotFound } from './orders.errors';
import { USER_ORDERS_SQL } from './orders.sql';

/** Reading orders: a customer sees their own; an admin sees any. */
@Injectable()
export class OrdersService {
  constructor(
    @InjectRepository(OrderEntity) private readonly orders: Repository<OrderEntity>,
    private readonly sql: SqlPool,
  ) {}

  async get(id: string, user: SessionUser): Promise<OrderEntity> {
    const order = await this.orders.findOneBy({ id });
    // Someone else's order is "not found": its existence is not the caller's business.
    if (!order || (order.userId !== user.id && !user.roles.includes('admin'))) throw orderNotFound();
    return order;
  }

  /** Hot read: raw SQL with a typed mapper, and the total from a window function (one round trip). */
  async list(userId: string, query: ListOrdersQuery): Promise<{ items: OrderEntity[]; total: number }> {
    const rows = await this.sql.query<OrderRow & { total: string | number }>(USER_ORDERS_SQL, [
      userId,
      query.limit,
      query.offset,
    ]);
    if (rows.length === 0 && query.offset > 0) {
      // Past the end the window has no rows to count on: ask for the total alone.
      const [row] = await this.sql.query<{ total: string | number }>(
        'SELECT count(*) AS total FROM orders WHERE user_id = $1',
        [userId],
      );
      return { items: [], total: Number(row?.total ?? 0) };
    }
    return { items: rows.map(toOrder), total: rows.length ? Number(rows[0]!.total) : 0 };
  }
}

export interface OrderRow {
  id: string;
  user_id: string;
  event_id: string;
  quantity: number;
  amount_cents: number;
  currency: string;
  status: OrderEntity['status'];
  hold_expires_at: Date | string;
  request_key: string | null;
  payment_id: string | null;
  fence_token: string | number;
  paid_at: Date | string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

export function toOrder(row: OrderRow): OrderEntity {
  const order = new OrderEntity();
  order.id = row.id;
  order.userId = row.user_id;
  order.eventId = row.event_id;
  order.quantity = Number(row.quantity);
  order.amountCents = Number(row.amount_cents);
  order.currency = row.currency;
  order.status = row.status;
  order.holdExpiresAt = toDate(row.hold_expires_at);
  order.requestKey = row.request_key;
  order.paymentId = row.payment_id;
  order.fenceToken = String(row.fence_token);
  order.paidAt = row.paid_at === null ? null : toDate(row.paid_at);
  order.createdAt = toDate(row.created_at);
  order.updatedAt = toDate(row.updated_at);
  return order;
}
