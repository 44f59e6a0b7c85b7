import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import type { SessionUser } from '../../platform/session';
import type { ListOrdersQuery } from './dto/list-orders.query';
import { OrderEntity } from './order.entity';
import { orderNotFound } from './orders.errors';

/** Reading orders: a customer sees their own; an admin sees any. */
@Injectable()
export class OrdersService {
  constructor(@InjectRepository(OrderEntity) private readonly orders: Repository<OrderEntity>) {}

  async get(id: string, user: SessionUser): Promise<OrderEntity> {
    const order = await this.orders.findOneBy({ id });
    // Someone else's order is "not found": its existence is not the caller's business.
    if (!order || (order.userId !== user.id && !user.roles.includes('admin'))) throw orderNotFound();
    return order;
  }

  async list(userId: string, query: ListOrdersQuery): Promise<{ items: OrderEntity[]; total: number }> {
    const [items, total] = await this.orders.findAndCount({
      where: { userId },
      order: { createdAt: 'DESC', id: 'ASC' },
      take: query.limit,
      skip: query.offset,
    });
    return { items, total };
  }
}
