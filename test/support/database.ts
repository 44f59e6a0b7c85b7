import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/**
 * The database of one e2e suite: a fresh database on the PostgreSQL server of
 * TEST_DATABASE_URL when set, otherwise an in-memory PGlite.
 */
export interface TestDatabase {
  /** Environment for the app: DATABASE_URL or PGLITE_DATA_DIR. */
  env: Record<string, string>;
  kind: 'postgres' | 'pglite';
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) {
    return { env: { PGLITE_DATA_DIR: 'memory://' }, kind: 'pglite', drop: async () => undefined };
  }
  return createPostgresDatabase(serverUrl);
}

/** The machine's PostgreSQL, when TEST_DATABASE_URL does not name another. */
export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

/**
 * A fresh PostgreSQL database, whatever TEST_DATABASE_URL says: several app instances share state
 * only through PostgreSQL and Redis (PGlite is one process's database), so multi-instance suites
 * always run here.
 */
export async function createPostgresDatabase(
  serverUrl = process.env.TEST_DATABASE_URL ?? LOCAL_POSTGRES_URL,
): Promise<TestDatabase> {
  const name = `bo_e2e_${randomBytes(6).toString('hex')}`;
  await withAdmin(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    env: { DATABASE_URL: url.toString() },
    kind: 'postgres',
    drop: () =>
      withAdmin(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}

async function withAdmin<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates the database that `serverUrl` names when the server does not have it yet (a fresh
 * machine's PostgreSQL has `postgres` only). An unreachable server is left to the suites that need
 * it, which fail with the connection error.
 */
export async function ensureDatabase(serverUrl = process.env.TEST_DATABASE_URL ?? LOCAL_POSTGRES_URL): Promise<void> {
  try {
    await withAdmin(serverUrl, () => Promise.resolve());
  } catch (error) {
    if ((error as { code?: string }).code !== '3D000') return; // 3D000: invalid_catalog_name
    const url = new URL(serverUrl);
    const name = decodeURIComponent(url.pathname.slice(1));
    url.pathname = '/postgres';
    await withAdmin(url.toString(), (client) => client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`));
  }
}
