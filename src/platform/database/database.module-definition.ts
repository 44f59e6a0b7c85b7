import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { MixedList } from 'typeorm';

export interface DatabaseModuleOptions {
  /** `postgres://` URL of a PostgreSQL server. Unset means the embedded PGlite database. */
  url?: string;
  /** PGlite data directory (created if missing); `memory://` keeps it in memory. Default `.data/pglite`. */
  pgliteDataDir?: string;
  /** Apply pending migrations at start (under an advisory lock on PostgreSQL). Default true. */
  runMigrations?: boolean;
  /** Migration classes, in order. Default none. */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations?: MixedList<Function>;
  /** PostgreSQL connection pool size (PGlite is always one session). Default 10. */
  poolSize?: number;
  /** Per-query timeout on PostgreSQL, so a stuck query cannot hold a request forever. Default 10000 ms. */
  statementTimeoutMs?: number;
}

export const { ConfigurableModuleClass: DatabaseConfigurableModule, MODULE_OPTIONS_TOKEN: DATABASE_MODULE_OPTIONS } =
  new ConfigurableModuleBuilder<DatabaseModuleOptions>({ moduleName: 'Database' })
    .setClassMethodName('forRoot')
    .build();
