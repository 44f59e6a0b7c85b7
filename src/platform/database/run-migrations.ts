import type { DataSource, Migration } from 'typeorm';

// Any constant works; it only has to be the same for every instance of the app.
const MIGRATION_LOCK_ID = 7_214_390_118;

/**
 * Runs pending migrations. On PostgreSQL several replicas may start at once, so the run holds
 * a session advisory lock; PGlite belongs to one process and needs none.
 */
export async function runMigrations(dataSource: DataSource, embedded: boolean): Promise<Migration[]> {
  if (embedded) return dataSource.runMigrations({ transaction: 'each' });
  const lockRunner = dataSource.createQueryRunner();
  await lockRunner.connect();
  try {
    await lockRunner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    return await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await lockRunner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => undefined);
    await lockRunner.release();
  }
}
