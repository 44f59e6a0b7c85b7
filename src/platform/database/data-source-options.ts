import { mkdirSync } from 'node:fs';
import type { DataSourceOptions } from 'typeorm';
import type { DatabaseModuleOptions } from './database.module-definition';
import { pgliteDriver } from './pglite.driver';

export const DEFAULT_PGLITE_DIR = '.data/pglite';

/** The one place that turns module options into TypeORM options, shared by the app and the migration CLI. */
export function buildDataSourceOptions(options: DatabaseModuleOptions): DataSourceOptions {
  const common = {
    type: 'postgres' as const,
    migrations: options.migrations ?? [],
    migrationsTableName: 'migrations',
    // Migrations own the schema; TypeORM must never change it on its own.
    synchronize: false,
    migrationsRun: false,
    // Columns default to gen_random_uuid() (core since PostgreSQL 13); no extension to install.
    installExtensions: false,
  };
  if (options.url) {
    const statementTimeoutMs = options.statementTimeoutMs ?? 5000;
    return {
      ...common,
      url: options.url,
      poolSize: options.poolSize ?? 10,
      // Every wait on the database is bounded: taking or opening a connection (pool acquire), the
      // server's statement_timeout, and a client-side read deadline for a server that stopped answering.
      connectTimeoutMS: options.connectTimeoutMs ?? 2000,
      extra: {
        statement_timeout: statementTimeoutMs,
        query_timeout: statementTimeoutMs + 500,
        keepAlive: true,
        application_name: 'box-office',
      },
    };
  }
  const dataDir = options.pgliteDataDir ?? DEFAULT_PGLITE_DIR;
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  return { ...common, driver: pgliteDriver(dataDir) } as DataSourceOptions;
}
