import { Injectable, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Gauge } from 'prom-client';
import type { DataSource } from 'typeorm';
// The metrics service directly: the http barrel imports this module's errors.
import { MetricsService } from '../http/metrics.service';

/** What a `pg` Pool says about itself. */
interface PgPoolStats {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options?: { max?: number };
}

/**
 * The database connection pool in /metrics: `db_pool_connections{state}` (total, idle, in use,
 * waiting clients) and `db_pool_max`, read at scrape time. On PGlite (a pool of one, in process)
 * the gauges say one connection and nothing waiting.
 */
@Injectable()
export class DatabaseMetrics {
  constructor(@InjectDataSource() dataSource: DataSource, @Optional() metrics?: MetricsService) {
    if (!metrics) return;
    const master = (dataSource.driver as { master?: unknown }).master;
    const pool = isPgPoolStats(master) ? master : undefined;
    new Gauge({
      name: 'db_pool_connections',
      help: 'Database pool connections by state (total, idle, in_use) and clients waiting for one (waiting)',
      labelNames: ['state'] as const,
      registers: [metrics.registry],
      collect() {
        const total = pool ? pool.totalCount : 1;
        const idle = pool ? pool.idleCount : 0;
        this.labels('total').set(total);
        this.labels('idle').set(idle);
        this.labels('in_use').set(total - idle);
        this.labels('waiting').set(pool ? pool.waitingCount : 0);
      },
    });
    new Gauge({
      name: 'db_pool_max',
      help: 'Most connections the database pool opens',
      registers: [metrics.registry],
      collect() {
        this.set(pool?.options?.max ?? 1);
      },
    });
  }
}

function isPgPoolStats(candidate: unknown): candidate is PgPoolStats {
  if (!candidate || typeof candidate !== 'object') return false;
  const c = candidate as Partial<PgPoolStats>;
  return typeof c.totalCount === 'number' && typeof c.idleCount === 'number' && typeof c.waitingCount === 'number';
}
