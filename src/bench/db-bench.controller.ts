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
import { EVENT_COLUMNS } from '../modules/events';
import { expireHoldsSql, HOLD_SQL, USER_ORDERS_SQL } from '../modules/orders';

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
    const rows = (await this.query(USER_ORDERS_SQL, [user.id, 20, 0])) as { total?: string }[];
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
    await this.query(expireHoldsSql(true), [id]);
    const [row] = await this.query(HOLD_SQL, [id, 1, user.id, new Date(Date.now() + 600_000), null]);
    if (!row) throw new ConflictException('sold out');
    return row;
  }
}
