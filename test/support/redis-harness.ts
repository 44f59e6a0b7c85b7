import { RedisService, type RedisModuleOptions } from '../../src/platform/redis';
import { RedisProcess, TEST_REDIS_URL, rawRedis, uniquePrefix } from './redis';

/** RedisProcess.kill() can wait forever on a process that is already dead, so cleanup never waits on it for long. */
export async function stopQuietly(proc: RedisProcess | undefined): Promise<void> {
  if (!proc) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([proc.stop(), new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
  clearTimeout(timer);
}

/**
 * The Redis plumbing of a store contract suite. Registers Jest hooks that, after each test, stop
 * its private redis-servers, close its RedisServices, delete its keys on the shared Redis, and
 * fail the test if ioredis printed an unhandled error event.
 */
export function redisHarness(label: string) {
  const services: RedisService[] = [];
  const procs: RedisProcess[] = [];
  const sharedPrefixes: string[] = [];
  /** A raw client on the shared Redis (no prefix), for assertions. */
  const shared = rawRedis();
  let unhandled: jest.SpyInstance;

  async function cleanUp(): Promise<void> {
    // Private servers first: a paused one would make a polite QUIT wait for its timeout.
    await Promise.all(procs.splice(0).map((proc) => stopQuietly(proc)));
    await Promise.all(services.splice(0).map((redis) => redis.onApplicationShutdown()));
    for (const prefix of sharedPrefixes.splice(0)) {
      const keys = await shared.keys(`${prefix}*`);
      if (keys.length) await shared.del(...keys);
    }
  }

  beforeEach(() => {
    // ioredis prints this (and nothing else) when an 'error' event has no listener.
    unhandled = jest.spyOn(console, 'error');
  });

  afterEach(async () => {
    await cleanUp();
    const ioredisErrors = unhandled.mock.calls.filter((args) => String(args[0]).includes('Unhandled error event'));
    unhandled.mockRestore();
    expect(ioredisErrors).toEqual([]);
  });

  afterAll(async () => {
    // Nothing may outlive the suite (it runs with --detectOpenHandles).
    await cleanUp();
    await shared.quit();
  });

  return {
    shared,
    /** Closed after the test; add services opened by hand. */
    services,
    /** Deleted from the shared Redis after the test; add prefixes used by hand. */
    sharedPrefixes,
    /** A started RedisService on a prefix of its own (the shared Redis unless `url` says otherwise). */
    async openService(options: RedisModuleOptions = {}): Promise<{ redis: RedisService; prefix: string }> {
      const prefix = uniquePrefix(label);
      const url = options.url ?? TEST_REDIS_URL;
      if (url === TEST_REDIS_URL) sharedPrefixes.push(prefix);
      const redis = new RedisService({ ...options, url, keyPrefix: prefix });
      services.push(redis);
      await redis.onModuleInit();
      return { redis, prefix };
    },
    /** A redis-server of the test's own on a free port, stopped after the test. */
    async privateRedis(): Promise<RedisProcess> {
      const proc = await RedisProcess.start();
      procs.push(proc);
      return proc;
    },
  };
}
