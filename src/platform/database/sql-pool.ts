import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

/** The part of a `pg` Pool this service uses. */
interface PgPoolLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/**
 * Raw parameterised SQL on TypeORM's own connection pool, for hot reads where the query
 * builder's per-query cost (building SQL, alias mapping, entity hydration) matters.
 *
 * On PostgreSQL it queries the `pg` Pool behind the DataSource directly; on other drivers
 * (the embedded PGlite pool) it falls back to `DataSource.query`. Rows come back as the
 * driver returns them: callers map them with typed mappers of their own.
 */
@Injectable()
export class SqlPool {
  private readonly pool: PgPoolLike | undefined;

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {
    const master = (dataSource.driver as { master?: unknown }).master;
    // TypeORM's postgres driver keeps its pg Pool in `master`; the PGlite pool is not a pg Pool.
    this.pool = isPgPool(master) ? master : undefined;
  }

  async query<Row>(text: string, values: unknown[] = []): Promise<Row[]> {
    if (this.pool) return (await this.pool.query(text, values)).rows as Row[];
    return (await this.dataSource.query(text, values)) as Row[];
  }
}

/** A timestamp column as a Date: pg gives Dates, PGlite may give strings. */
export const toDate = (value: Date | string): Date => (value instanceof Date ? value : new Date(value));

function isPgPool(candidate: unknown): candidate is PgPoolLike {
  if (!candidate || typeof candidate !== 'object') return false;
  const c = candidate as { query?: unknown; totalCount?: unknown };
  return typeof c.query === 'function' && typeof c.totalCount === 'number';
}
