import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from './data-source-options';
import {
  DATABASE_MODULE_OPTIONS,
  DatabaseConfigurableModule,
  type DatabaseModuleOptions,
} from './database.module-definition';
import { runMigrations } from './run-migrations';
import { DatabaseMetrics } from './database.metrics';
import { SqlPool } from './sql-pool';

/**
 * TypeORM on PostgreSQL, or on embedded PGlite (real Postgres in WASM) when no URL is given.
 * One set of migrations serves both; the schema is never synchronised from entities.
 */
@Module({})
export class DatabaseModule extends DatabaseConfigurableModule {
  static override forRoot(options: DatabaseModuleOptions): DynamicModule {
    const base = super.forRoot(options);
    return {
      ...base,
      // Global so any module can inject SqlPool, as TypeORM's DataSource already is.
      global: true,
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => ({ ...buildDataSourceOptions(options), autoLoadEntities: true }),
          dataSourceFactory: async (dataSourceOptions) => {
            const dataSource = await new DataSource(dataSourceOptions!).initialize();
            if (options.runMigrations ?? true) {
              const applied = await runMigrations(dataSource, !options.url);
              if (applied.length) {
                new Logger('Database').log(`Applied migrations: ${applied.map((m) => m.name).join(', ')}`);
              }
            }
            return dataSource;
          },
        }),
      ],
      providers: [...(base.providers ?? []), SqlPool, DatabaseMetrics],
      exports: [DATABASE_MODULE_OPTIONS, TypeOrmModule, SqlPool],
    };
  }
}
