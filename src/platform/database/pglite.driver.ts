import { EventEmitter } from 'node:events';
import { PGlite, types } from '@electric-sql/pglite';

type Callback<T> = (error: Error | null, result?: T) => void;
type ConnectCallback = (error: Error | null, client: unknown, release: () => void) => void;

// TypeORM sends booleans as JS values; PGlite's default serializer would send them as text.
const serializeBool = (value: unknown): string =>
  value === true || value === 'true' || value === 1
    ? 'TRUE'
    : value === false || value === 'false' || value === 0
      ? 'FALSE'
      : String(value);

/**
 * A `pg`-shaped driver for TypeORM's postgres dialect over one PGlite database.
 *
 * Written here rather than taken from typeorm-pglite because that package keeps one PGlite
 * instance per process (a second data directory silently reads the first one's data) and hands
 * its one session to every query runner at once (concurrent transactions interleave). Each
 * driver here owns its database, and the pool behaves as a real pool of size one: a query runner
 * holds the session from connect until release, and the others queue.
 */
export function pgliteDriver(dataDir: string): { Pool: new () => EventEmitter } {
  let database: Promise<PGlite> | undefined;
  const open = (): Promise<PGlite> =>
    (database ??= PGlite.create({ dataDir, serializers: { [types.BOOL]: serializeBool } }));

  class PGlitePool extends EventEmitter {
    private tail: Promise<void> = Promise.resolve();

    connect(callback: ConnectCallback): Promise<void> {
      let releaseTurn!: () => void;
      const turn = new Promise<void>((resolve) => (releaseTurn = resolve));
      const previous = this.tail;
      this.tail = previous.then(() => turn);
      return previous.then(async () => {
        let released = false;
        const release = (): void => {
          if (released) return;
          released = true;
          releaseTurn();
        };
        try {
          await open();
        } catch (error) {
          release();
          callback(error as Error, null, release);
          return;
        }
        // The pool is its own client: TypeORM only calls query/on/removeListener on it.
        callback(null, this, release);
      });
    }

    async query(sql: string, params?: unknown[] | Callback<unknown>, callback?: Callback<unknown>): Promise<unknown> {
      const done = typeof params === 'function' ? params : callback;
      const values = Array.isArray(params) ? params : undefined;
      try {
        const db = await open();
        // Without parameters the text may hold several statements; TypeORM wants the last result.
        const result = values?.length
          ? await db.query(sql, values)
          : await db.exec(sql).then((results) => results.at(-1) ?? { rows: [] });
        done?.(null, result);
        return result;
      } catch (error) {
        done?.(error as Error);
        throw error;
      }
    }

    end(callback?: Callback<void>): void {
      const closing = database;
      database = undefined;
      Promise.resolve(closing?.then((db) => db.close())).then(
        () => callback?.(null),
        (error: Error) => callback?.(error),
      );
    }
  }
  return { Pool: PGlitePool };
}
