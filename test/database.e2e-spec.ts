import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { DataSource, type DataSourceOptions, type EntityManager, type Logger } from 'typeorm';
import { migrations } from '../migrations';
import { buildDataSourceOptions, runMigrations, type DatabaseModuleOptions } from '../src/platform/database';
import { createTestDatabase, type TestDatabase } from './support/database';

// One fresh database per test: a new database on the PostgreSQL server of TEST_DATABASE_URL, or an in-memory PGlite.
const KIND: TestDatabase['kind'] = process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite';
const MIGRATIONS = migrations.map((migration) => migration.name);
const LAST = MIGRATIONS.at(-1)!;
const ROOT = join(__dirname, '..');

let db: TestDatabase;
const opened: DataSource[] = [];

/** A DataSource on the test database, built exactly as the app builds it. */
async function open(
  options: Partial<DatabaseModuleOptions> = {},
  extra: { logger?: Logger } = {},
): Promise<DataSource> {
  const dataSource = new DataSource({
    ...buildDataSourceOptions({
      url: db.env.DATABASE_URL,
      pgliteDataDir: db.env.PGLITE_DATA_DIR,
      migrations,
      ...options,
    }),
    ...extra,
  } as DataSourceOptions);
  opened.push(dataSource);
  return dataSource.initialize();
}

const embedded = () => db.kind === 'pglite';

async function tableExists(dataSource: DataSource, table: string): Promise<boolean> {
  const [{ n }] = await dataSource.query(
    "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name = $1",
    [table],
  );
  return n === 1;
}

async function appliedMigrations(dataSource: DataSource): Promise<string[]> {
  const rows: { name: string }[] = await dataSource.query('SELECT name FROM migrations ORDER BY id');
  return rows.map((row) => row.name);
}

async function insertEvent(dataSource: DataSource, capacity: number, seats: number): Promise<string> {
  const [{ id }] = await dataSource.query(
    `INSERT INTO events (title, venue, starts_at, capacity, seats_available, price_cents, currency)
     VALUES ('Jazz night', 'Hall A', now() + interval '30 days', $1, $2, 2500, 'EUR') RETURNING id`,
    [capacity, seats],
  );
  return id;
}

async function seatsAvailable(dataSource: DataSource, id: string): Promise<number> {
  const [{ seats_available }] = await dataSource.query('SELECT seats_available FROM events WHERE id = $1', [id]);
  return seats_available;
}

/** A TypeORM logger that only remembers the SQL it was shown. */
function recordingLogger(queries: string[]): Logger {
  const ignore = () => undefined;
  return {
    logQuery: (query) => void queries.push(query),
    logQueryError: ignore,
    logQuerySlow: ignore,
    logSchemaBuild: ignore,
    logMigration: ignore,
    log: ignore,
  };
}

/** Lets other queued work run between two statements of a transaction. */
const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function closeAll(): Promise<void> {
  // PGlite is one instance per process (see the report), so every DataSource must be closed before the next opens.
  for (const dataSource of opened.splice(0).reverse()) {
    if (dataSource.isInitialized) await dataSource.destroy();
  }
}

async function freshDatabase(): Promise<void> {
  db = await createTestDatabase();
  expect(db.kind).toBe(KIND);
}

async function dropDatabase(): Promise<void> {
  await closeAll();
  await db?.drop();
}

describe(`migrations on ${KIND}`, () => {
  beforeEach(freshDatabase);
  afterEach(dropDatabase);

  it('runMigrations creates the events table once; a second run applies nothing', async () => {
    const dataSource = await open();
    expect(await tableExists(dataSource, 'events')).toBe(false);

    const applied = await runMigrations(dataSource, embedded());
    expect(applied.map((migration) => migration.name)).toEqual(MIGRATIONS);
    expect(await tableExists(dataSource, 'events')).toBe(true);
    expect(await appliedMigrations(dataSource)).toEqual(MIGRATIONS);

    expect(await runMigrations(dataSource, embedded())).toEqual([]);
    expect(await appliedMigrations(dataSource)).toEqual(MIGRATIONS);
  });

  it('undoing every migration drops the tables, and the migrations can be applied again', async () => {
    const dataSource = await open();
    await runMigrations(dataSource, embedded());

    for (const _ of MIGRATIONS) await dataSource.undoLastMigration({ transaction: 'each' });
    expect(await tableExists(dataSource, 'events')).toBe(false);
    expect(await tableExists(dataSource, 'users')).toBe(false);
    expect(await appliedMigrations(dataSource)).toEqual([]);

    expect((await runMigrations(dataSource, embedded())).map((migration) => migration.name)).toEqual(MIGRATIONS);
    expect(await tableExists(dataSource, 'events')).toBe(true);
  });

  // The branch is explicit: PostgreSQL proves the advisory lock between two DataSources (two replicas);
  // PGlite belongs to one process and one session, so its path takes no lock and relies on the serial driver.
  it(
    KIND === 'postgres'
      ? 'two DataSources migrating one fresh database at once both succeed and apply the migration once (advisory lock)'
      : 'concurrent runs on the embedded database both succeed and apply the migration once, without an advisory lock',
    async () => {
      let results: unknown[][];
      if (db.kind === 'postgres') {
        const [first, second] = await Promise.all([open(), open()]);
        results = await Promise.all([runMigrations(first, false), runMigrations(second, false)]);
      } else {
        const dataSource = await open();
        results = await Promise.all([runMigrations(dataSource, true), runMigrations(dataSource, true)]);
        const [{ n }] = await dataSource.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'");
        expect(n).toBe(0);
      }
      expect(results.map((applied) => applied.length).sort()).toEqual([0, MIGRATIONS.length]);
      expect(await appliedMigrations(opened[0]!)).toEqual(MIGRATIONS);
    },
  );

  it(
    KIND === 'postgres'
      ? 'a run takes the advisory lock and waits while another replica holds it, then applies (pool of one, wait longer than the statement timeout)'
      : 'the embedded run applies the migration without taking any advisory lock',
    async () => {
      const queries: string[] = [];
      // A pool of one and a statement timeout shorter than the wait: neither may break the run.
      const dataSource = await open(db.kind === 'postgres' ? { poolSize: 1, statementTimeoutMs: 200 } : {}, {
        logger: recordingLogger(queries),
      });
      if (db.kind === 'postgres') {
        const holder = new Client({ connectionString: db.env.DATABASE_URL });
        await holder.connect();
        try {
          await holder.query('SELECT pg_advisory_lock(7214390118)');
          const run = runMigrations(dataSource, false);
          await waitFor(async () => {
            const { rows } = await holder.query(
              "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            );
            return rows[0].n === 1;
          });
          await new Promise((resolve) => setTimeout(resolve, 400));
          const { rows } = await holder.query("SELECT to_regclass('public.events') AS t");
          expect(rows[0].t).toBeNull();
          await holder.query('SELECT pg_advisory_unlock(7214390118)');
          expect((await run).map((migration) => migration.name)).toEqual(MIGRATIONS);
        } finally {
          await holder.end();
        }
        expect(queries.filter((query) => /pg_advisory_(un)?lock/.test(query))).toHaveLength(2);
      } else {
        expect((await runMigrations(dataSource, true)).map((migration) => migration.name)).toEqual(MIGRATIONS);
        expect(queries.filter((query) => /pg_advisory/.test(query))).toEqual([]);
      }
      expect(await tableExists(dataSource, 'events')).toBe(true);
    },
  );
});

describe(`the events_seats_in_range constraint on ${KIND}`, () => {
  let dataSource: DataSource;
  beforeAll(async () => {
    await freshDatabase();
    dataSource = await open();
    await runMigrations(dataSource, embedded());
  });
  afterAll(dropDatabase);

  describe.each([
    { change: -2, what: 'below zero' },
    { change: +2, what: 'above capacity' },
  ])('an UPDATE that would take seats_available $what', ({ change }) => {
    it('is refused and changes nothing', async () => {
      const id = await insertEvent(dataSource, 2, 1);
      await expect(
        dataSource.query('UPDATE events SET seats_available = seats_available + $2 WHERE id = $1', [id, change]),
      ).rejects.toThrow(/events_seats_in_range/);
      expect(await seatsAvailable(dataSource, id)).toBe(1);
    });
  });

  it('accepts an UPDATE down to exactly zero seats and up to exactly capacity', async () => {
    const id = await insertEvent(dataSource, 2, 1);
    await dataSource.query('UPDATE events SET seats_available = seats_available - 1 WHERE id = $1', [id]);
    expect(await seatsAvailable(dataSource, id)).toBe(0);
    await dataSource.query('UPDATE events SET seats_available = seats_available + 2 WHERE id = $1', [id]);
    expect(await seatsAvailable(dataSource, id)).toBe(2);
  });
});

describe(`concurrent transactions on ${KIND}`, () => {
  beforeEach(freshDatabase);
  afterEach(dropDatabase);

  describe.each([
    {
      how: 'read under FOR UPDATE and written back from the application',
      increment: (manager: EntityManager, read: number) =>
        manager.query('UPDATE counter SET value = $1 WHERE id = 1', [read + 1]),
    },
    {
      how: 'incremented in SQL',
      increment: (manager: EntityManager) => manager.query('UPDATE counter SET value = value + 1 WHERE id = 1'),
    },
  ])('30 concurrent transactions, counter $how', ({ increment }) => {
    it('never interleave: the counter ends at 30 and none fails', async () => {
      const dataSource = await open();
      await dataSource.query('CREATE TABLE counter (id int PRIMARY KEY, value int NOT NULL)');
      await dataSource.query('INSERT INTO counter (id, value) VALUES (1, 0)');

      const results = await Promise.allSettled(
        Array.from({ length: 30 }, () =>
          dataSource.transaction(async (manager) => {
            const [{ value }] = await manager.query('SELECT value FROM counter WHERE id = 1 FOR UPDATE');
            await yieldTurn();
            await increment(manager, value);
          }),
        ),
      );

      expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
      expect(await dataSource.query('SELECT value FROM counter WHERE id = 1')).toEqual([{ value: 30 }]);
    });
  });

  it('a transaction that rolls back undoes only its own writes', async () => {
    const dataSource = await open();
    await dataSource.query('CREATE TABLE counter (id int PRIMARY KEY, value int NOT NULL)');
    await dataSource.query('INSERT INTO counter (id, value) VALUES (1, 0)');

    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        dataSource.transaction(async (manager) => {
          await manager.query('UPDATE counter SET value = value + 1 WHERE id = 1');
          await yieldTurn();
          if (i % 2 === 1) throw new Error('rolled back on purpose');
        }),
      ),
    );

    expect(results.filter((result) => result.status === 'rejected')).toHaveLength(5);
    expect(await dataSource.query('SELECT value FROM counter WHERE id = 1')).toEqual([{ value: 5 }]);
  });

  it('200 concurrent conditional decrements on 50 seats: exactly 50 succeed and the event ends sold out', async () => {
    const dataSource = await open();
    await runMigrations(dataSource, embedded());
    const id = await insertEvent(dataSource, 50, 50);

    const affected = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const [, rowCount]: [unknown[], number] = await dataSource.query(
          'UPDATE events SET seats_available = seats_available - 1 WHERE id = $1 AND seats_available >= 1',
          [id],
        );
        return rowCount;
      }),
    );

    expect(affected.filter((n) => n === 1)).toHaveLength(50);
    expect(affected.filter((n) => n === 0)).toHaveLength(150);
    expect(await seatsAvailable(dataSource, id)).toBe(0);
  });
});

// typeorm-pglite kept one PGlite instance per process, so a second embedded database shared the
// first one's data; each driver now owns its database.
describe('two embedded databases in one process', () => {
  const dirs: string[] = [];
  afterEach(closeAll);
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('stay separate', async () => {
    const [dirA, dirB] = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'bo-pglite-')));
    dirs.push(dirA!, dirB!);
    const a = new DataSource(buildDataSourceOptions({ pgliteDataDir: dirA, migrations }));
    const b = new DataSource(buildDataSourceOptions({ pgliteDataDir: dirB, migrations }));
    opened.push(a, b);
    await a.initialize();
    await runMigrations(a, true);
    await b.initialize();
    expect(await tableExists(b, 'events')).toBe(false);
  });
});

describe('the TypeORM migration CLI on the built data source', () => {
  const cli = join(ROOT, 'node_modules', 'typeorm', 'cli.js');
  const dataSourceFile = join(ROOT, 'dist', 'src', 'data-source.js');
  let workDir: string;

  beforeAll(() => {
    // Build when dist is missing or older than the sources (E2E_SKIP_BUILD=true skips the global build).
    if (!existsSync(dataSourceFile) || statSync(dataSourceFile).mtimeMs < newestSourceMtime()) {
      execFileSync(process.execPath, [join(ROOT, 'node_modules', '@nestjs', 'cli', 'bin', 'nest.js'), 'build'], {
        cwd: ROOT,
        stdio: 'inherit',
      });
    }
    expect(existsSync(dataSourceFile)).toBe(true);
  }, 120_000);

  beforeEach(() => {
    // A working directory of its own, so no .env of the checkout can point the CLI elsewhere.
    workDir = mkdtempSync(join(tmpdir(), 'bo-cli-'));
  });
  afterEach(() => rmSync(workDir, { recursive: true, force: true }));

  async function typeorm(command: string, env: Record<string, string>): Promise<string> {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, command, '-d', dataSourceFile], {
      cwd: workDir,
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 60_000,
      killSignal: 'SIGKILL',
    });
    return stdout;
  }

  it('runs, shows and reverts the migration on a fresh PGlite directory, each exiting 0', async () => {
    const env = { PGLITE_DATA_DIR: join(workDir, 'pglite') };

    const run = await typeorm('migration:run', env);
    for (const name of MIGRATIONS) expect(run).toContain(`Migration ${name} has been executed successfully.`);
    const shown = await typeorm('migration:show', env);
    for (const name of MIGRATIONS) expect(shown).toMatch(new RegExp(`\\[X\\] \\d+ ${name}`));
    expect(await typeorm('migration:revert', env)).toContain(`Migration ${LAST} has been reverted successfully.`);
    expect(await typeorm('migration:show', env)).toContain(`[ ] ${LAST}`);
  }, 240_000);
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function newestSourceMtime(): number {
  return Math.max(
    ...['src', 'migrations'].flatMap((dir) =>
      readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
        .filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'))
        .map((file) => statSync(join(ROOT, dir, file)).mtimeMs),
    ),
  );
}
