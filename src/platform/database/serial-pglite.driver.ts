import { PGliteDriver } from 'typeorm-pglite';

type ConnectCallback = (error: Error | null, client: unknown, release: () => void) => void;
type PoolClass = new (...args: unknown[]) => { connect(callback: ConnectCallback): Promise<void> };

/**
 * PGlite is one Postgres session, but typeorm-pglite hands that session to every query runner
 * at once, so two concurrent transactions would interleave their statements. This driver makes
 * the pool behave like a real pool of size one: a query runner holds the session from connect
 * until release, and the others queue.
 */
export function serialPGliteDriver(dataDir: string): unknown {
  const Base = (new PGliteDriver({ dataDir }).driver as unknown as { Pool: PoolClass }).Pool;
  class SerialPool extends Base {
    private tail: Promise<void> = Promise.resolve();

    override connect(callback: ConnectCallback): Promise<void> {
      let releaseTurn!: () => void;
      const turn = new Promise<void>((resolve) => (releaseTurn = resolve));
      const previous = this.tail;
      this.tail = previous.then(() => turn);
      return previous.then(() =>
        super.connect((error, client) => {
          let released = false;
          const release = (): void => {
            if (released) return;
            released = true;
            releaseTurn();
          };
          if (error) release();
          callback(error, client, release);
        }),
      );
    }
  }
  return { Pool: SerialPool };
}
