export { DatabaseModule } from './database.module';
export { type DatabaseModuleOptions, DATABASE_MODULE_OPTIONS } from './database.module-definition';
export { buildDataSourceOptions } from './data-source-options';
export { runMigrations } from './run-migrations';
export { DATABASE_UNAVAILABLE, isDatabaseUnavailableError } from './database-errors';
export { SqlPool, toDate } from './sql-pool';
