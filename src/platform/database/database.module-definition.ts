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
  /** Per-query timeout on PostgreSQL (server `statement_timeout`, and a client-side read deadline 500 ms later, so a frozen server cannot hold a request forever). Default 5000 ms. */
  statementTimeoutMs?: number;
  /** Deadline to open a connection or to take one from a full pool; past it the request answers 503. Default 2000 ms. */
  connectTimeoutMs?: number;
}

export const { ConfigurableModuleClass: DatabaseConfigurableModule, MODULE_OPTIONS_TOKEN: DATABASE_MODULE_OPTIONS } =
  new ConfigurableModuleBuilder<DatabaseModuleOptions>({ moduleName: 'Database' })
    .setClassMethodName('forRoot')
    .build();
