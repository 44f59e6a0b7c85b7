import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { CacheService } from '../../platform/cache';
import { eventNotFound } from '../events';
import { OrderEntity } from './order.entity';
import { eventNotOnSale, soldOut } from './orders.errors';
import { ORDERS_SETTINGS, type OrdersSettings } from './orders.settings';

const UNIQUE_VIOLATION = '23505';

/**
 * Seat holds. The seat count is only ever changed by one conditional UPDATE in PostgreSQL
 * (`seats_available >= quantity`, and a CHECK keeps it in range), never by Redis: whatever the
 * locks or caches say, there is no oversell.
 */
@Injectable()
export class ReservationsService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Reservations');
  private sweeper?: NodeJS.Timeout;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(ORDERS_SETTINGS) private readonly settings: OrdersSettings,
    private readonly cache: CacheService,
  ) {}

  onModuleInit(): void {
    if (this.settings.sweepIntervalMs <= 0) return;
    this.sweeper = setInterval(() => {
      this.expireHolds().catch((error: Error) => this.logger.warn(`Expiring holds failed: ${error.message}`));
    }, this.settings.sweepIntervalMs);
    this.sweeper.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }

  /**
   * Holds `quantity` seats for the user. `requestKey` (the scoped idempotency key) makes a retry
   * whose idempotency record was lost find the order it already made.
   */
  async reserve(eventId: string, userId: string, quantity: number, requestKey?: string): Promise<OrderEntity> {
    await this.expireHolds(eventId);
    try {
      const order = await this.dataSource.transaction((manager) =>
        this.hold(manager, eventId, userId, quantity, requestKey),
      );
      await this.cache.invalidateTags(['events', `event:${eventId}`]);
      return order;
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION && requestKey) {
        const existing = await this.dataSource.getRepository(OrderEntity).findOneBy({ requestKey });
        if (existing) return existing;
      }
      throw error;
    }
  }

  /** Returns the seats of expired holds (of one event, or all). Safe to run anywhere, any number of times at once. */
  async expireHolds(eventId?: string): Promise<number> {
    const rows = (await this.dataSource.query(
      `WITH expired AS (
         UPDATE orders SET status = 'expired', updated_at = now()
          WHERE status = 'held' AND hold_expires_at <= now() ${eventId ? 'AND event_id = $1' : ''}
         RETURNING event_id, quantity
       ), returned AS (
         SELECT event_id, sum(quantity)::int AS seats FROM expired GROUP BY event_id
       ), updated AS (
         UPDATE events e SET seats_available = e.seats_available + r.seats, version = e.version + 1, updated_at = now()
           FROM returned r WHERE e.id = r.event_id
         RETURNING e.id
       )
       SELECT id FROM updated`,
      eventId ? [eventId] : [],
    )) as { id: string }[];
    if (rows.length) await this.cache.invalidateTags(['events', ...rows.map((r) => `event:${r.id}`)]);
    return rows.length;
  }

  private async hold(
    manager: EntityManager,
    eventId: string,
    userId: string,
    quantity: number,
    requestKey?: string,
  ): Promise<OrderEntity> {
    if (requestKey) {
      const existing = await manager.findOneBy(OrderEntity, { requestKey });
      if (existing) return existing;
    }
    const taken = (await manager.query(
      `WITH taken AS (
         UPDATE events SET seats_available = seats_available - $2, version = version + 1, updated_at = now()
          WHERE id = $1 AND status = 'published' AND seats_available >= $2
         RETURNING price_cents, currency
       ) SELECT price_cents, currency FROM taken`,
      [eventId, quantity],
    )) as { price_cents: number; currency: string }[];
    if (!taken.length) {
      const [event] = (await manager.query('SELECT status, seats_available FROM events WHERE id = $1', [eventId])) as {
        status: string;
        seats_available: number;
      }[];
      if (!event) throw eventNotFound(eventId);
      if (event.status !== 'published') throw eventNotOnSale();
      throw soldOut(event.seats_available);
    }
    const [{ price_cents, currency }] = taken as [{ price_cents: number; currency: string }];
    const order = manager.create(OrderEntity, {
      userId,
      eventId,
      quantity,
      amountCents: price_cents * quantity,
      currency,
      status: 'held',
      holdExpiresAt: new Date(Date.now() + this.settings.holdMs),
      requestKey: requestKey ?? null,
    });
    return manager.save(order);
  }
}
