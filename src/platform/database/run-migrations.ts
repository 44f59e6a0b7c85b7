import { MigrationExecutor, type DataSource, type Migration } from 'typeorm';

// Any constant works; it only has to be the same for every instance of the app.
const MIGRATION_LOCK_ID = 7_214_390_118;

/**
 * Runs pending migrations. On PostgreSQL several replicas may start at once, so the run holds a
 * session advisory lock and migrates on that same connection (a pool of one must not deadlock),
 * with no statement timeout: waiting for another replica's long migration is not an error. PGlite
 * belongs to one process and needs no lock.
 */
export async function runMigrations(dataSource: DataSource, embedded: boolean): Promise<Migration[]> {
  if (embedded) return dataSource.runMigrations({ transaction: 'each' });
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SET statement_timeout = 0');
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    const executor = new MigrationExecutor(dataSource, runner);
    executor.transaction = 'each';
    return await executor.executePendingMigrations();
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => undefined);
    await runner.query('RESET statement_timeout').catch(() => undefined);
    await runner.release();
  }
}
