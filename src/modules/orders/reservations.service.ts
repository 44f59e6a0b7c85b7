import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { CacheService } from '../../platform/cache';
import { SqlPool } from '../../platform/database';
import { eventNotFound } from '../events';
import { OrderEntity } from './order.entity';
import { type OrderRow, toOrder } from './orders.service';
import { expireHoldsSql, HOLD_SQL } from './orders.sql';
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
    private readonly sql: SqlPool,
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
   *
   * The hold is one statement (the seat UPDATE and the order INSERT in one CTE), so it is atomic
   * without BEGIN/COMMIT round trips: a unique violation on `request_key` undoes the seat change too.
   */
  async reserve(eventId: string, userId: string, quantity: number, requestKey?: string): Promise<OrderEntity> {
    await this.expireHolds(eventId);
    try {
      const order = await this.hold(eventId, userId, quantity, requestKey);
      await this.cache.invalidateTags(['events', `event:${eventId}`]);
      return order;
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION && requestKey) {
        const existing = await this.findByRequestKey(requestKey);
        if (existing) return existing;
      }
      throw error;
    }
  }

  /** Returns the seats of expired holds (of one event, or all). Safe to run anywhere, any number of times at once. */
  async expireHolds(eventId?: string): Promise<number> {
    const rows = await this.sql.query<{ id: string }>(expireHoldsSql(Boolean(eventId)), eventId ? [eventId] : []);
    if (rows.length) await this.cache.invalidateTags(['events', ...rows.map((r) => `event:${r.id}`)]);
    return rows.length;
  }

  private async hold(eventId: string, userId: string, quantity: number, requestKey?: string): Promise<OrderEntity> {
    const [row] = await this.sql.query<OrderRow>(HOLD_SQL, [
      eventId,
      quantity,
      userId,
      new Date(Date.now() + this.settings.holdMs),
      requestKey ?? null,
    ]);
    if (row) return toOrder(row);
    // Nothing taken: a retry whose order exists still gets it; otherwise say why.
    if (requestKey) {
      const existing = await this.findByRequestKey(requestKey);
      if (existing) return existing;
    }
    const [event] = await this.sql.query<{ status: string; seats_available: number }>(
      'SELECT status, seats_available FROM events WHERE id = $1',
      [eventId],
    );
    if (!event) throw eventNotFound(eventId);
    if (event.status !== 'published') throw eventNotOnSale();
    throw soldOut(event.seats_available);
  }

  private findByRequestKey(requestKey: string): Promise<OrderEntity | null> {
    return this.dataSource.getRepository(OrderEntity).findOneBy({ requestKey });
  }
}
