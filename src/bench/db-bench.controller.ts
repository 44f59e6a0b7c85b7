import {
  Controller,
  ConflictException,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  ParseUUIDPipe,
  Post,
  type OnModuleDestroy,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Pool } from 'pg';
import { DATABASE_MODULE_OPTIONS, type DatabaseModuleOptions, SqlPool } from '../platform/database';
import { CurrentUser, Public, type SessionUser } from '../platform/session';
import { SkipThrottle } from '../platform/throttler';

const EVENT_COLUMNS =
  'id, title, venue, starts_at, capacity, seats_available, price_cents, currency, organizer_id, status, version, created_at, updated_at';
const ORDER_COLUMNS =
  'id, user_id, event_id, quantity, amount_cents, currency, status, hold_expires_at, request_key, payment_id,' +
  ' fence_token, paid_at, created_at, updated_at';

/**
 * Limit routes for the database reads: the same SELECT as GET /events/:id and GET /orders,
 * straight on a `pg` Pool of its own (same size as the app's), rows returned as the driver
 * gives them. On PGlite (no URL) they fall back to SqlPool, so they still answer.
 */
@ApiExcludeController()
@SkipThrottle()
@Controller('__bench/db')
export class DbBenchController implements OnModuleDestroy {
  private readonly pool: Pool | undefined;

  constructor(
    @Inject(DATABASE_MODULE_OPTIONS) options: DatabaseModuleOptions,
    private readonly sql: SqlPool,
  ) {
    this.pool = options.url ? new Pool({ connectionString: options.url, max: options.poolSize ?? 10 }) : undefined;
  }

  async onModuleDestroy(): Promise<void> {
    await this.pool?.end();
  }

  private async query(text: string, values: unknown[]): Promise<unknown[]> {
    if (this.pool) return (await this.pool.query(text, values)).rows;
    return this.sql.query(text, values);
  }

  @Public()
  @Get('events/:id')
  async event(@Param('id', ParseUUIDPipe) id: string): Promise<unknown> {
    const [row] = await this.query(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1`, [id]);
    if (!row) throw new NotFoundException();
    return row;
  }

  @Get('orders')
  async orders(@CurrentUser() user: SessionUser): Promise<unknown> {
    const rows = (await this.query(
      `SELECT ${ORDER_COLUMNS}, count(*) OVER () AS total FROM orders WHERE user_id = $1` +
        ' ORDER BY created_at DESC, id ASC LIMIT $2 OFFSET $3',
      [user.id, 20, 0],
    )) as { total?: string }[];
    return { items: rows, total: rows.length ? Number(rows[0]!.total) : 0 };
  }

  /**
   * The reservation's PostgreSQL work, the same two statements as POST /events/:id/reservations
   * (expire this event's lapsed holds; take seats and insert the order in one CTE), on the raw
   * pool, behind the same session guard; no idempotency record and no cache invalidation.
   */
  @Post('events/:id/reservations')
  @HttpCode(201)
  async reserve(@Param('id', ParseUUIDPipe) id: string, @CurrentUser() user: SessionUser): Promise<unknown> {
    await this.query(
      `WITH expired AS (
         UPDATE orders SET status = 'expired', updated_at = now()
          WHERE status = 'held' AND hold_expires_at <= now() AND event_id = $1
         RETURNING event_id, quantity
       ), returned AS (
         SELECT event_id, sum(quantity)::int AS seats FROM expired GROUP BY event_id
       ), updated AS (
         UPDATE events e SET seats_available = e.seats_available + r.seats, version = e.version + 1, updated_at = now()
           FROM returned r WHERE e.id = r.event_id
         RETURNING e.id
       )
       SELECT id FROM updated`,
      [id],
    );
    const [row] = await this.query(
      `WITH taken AS (
         UPDATE events SET seats_available = seats_available - $2, version = version + 1, updated_at = now()
          WHERE id = $1 AND status = 'published' AND seats_available >= $2
         RETURNING id, price_cents, currency
       )
       INSERT INTO orders (user_id, event_id, quantity, amount_cents, currency, status, hold_expires_at, request_key)
       SELECT $3::uuid, id, $2::int, price_cents * $2::int, currency, 'held', $4::timestamptz, NULL FROM taken
       RETURNING ${ORDER_COLUMNS}`,
      [id, 1, user.id, new Date(Date.now() + 600_000)],
    );
    if (!row) throw new ConflictException('sold out');
    return row;
  }
}
