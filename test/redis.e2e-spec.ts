import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RedisService, RedisUnavailableError, type RedisClient, type RedisState } from '../src/platform/redis';
import type { RedisModuleOptions } from '../src/platform/redis';
import { freePort, silentServer } from './support/ports';
import { RedisProcess, TEST_REDIS_URL, rawRedis, uniquePrefix } from './support/redis';

// RedisService is used as Nest would use it (constructor, onModuleInit, onApplicationShutdown), without a Nest app.
const services: RedisService[] = [];
function service(options: RedisModuleOptions): RedisService {
  const redis = new RedisService(options);
  services.push(redis);
  return redis;
}

/** Every state change, as `previous->next`. */
function recordStates(redis: RedisService): string[] {
  const seen: string[] = [];
  redis.on('state', (next, previous) => seen.push(`${previous}->${next}`));
  return seen;
}

/** Resolves on the first state (current or emitted) that matches; rejects after timeoutMs. */
function waitForState(redis: RedisService, wanted: RedisState[], timeoutMs: number): Promise<RedisState> {
  if (wanted.includes(redis.state)) return Promise.resolve(redis.state);
  return new Promise((resolve, reject) => {
    const onState = (state: RedisState) => {
      if (!wanted.includes(state)) return;
      clearTimeout(timer);
      redis.off('state', onState);
      resolve(state);
    };
    const timer = setTimeout(() => {
      redis.off('state', onState);
      reject(new Error(`state stayed ${redis.state}, not ${wanted.join('/')}, for ${timeoutMs} ms`));
    }, timeoutMs);
    redis.on('state', onState);
  });
}

/** Resolves once the connection has ended (at once if it already has); rejects after timeoutMs. */
function ended(connection: RedisClient, timeoutMs = 2000): Promise<void> {
  if (connection.status === 'end') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`connection still ${connection.status} after ${timeoutMs} ms`)),
      timeoutMs,
    );
    connection.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** How long a promise takes to settle, and how. */
async function settle<T>(promise: Promise<T>): Promise<{ ms: number; value?: T; error?: Error }> {
  const started = performance.now();
  try {
    const value = await promise;
    return { ms: performance.now() - started, value };
  } catch (error) {
    return { ms: performance.now() - started, error: error as Error };
  }
}

async function commandStats(raw: Redis): Promise<Record<'eval' | 'evalsha', number>> {
  const info = await raw.info('commandstats');
  const calls = (command: string) => Number(info.match(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm'))?.[1] ?? 0);
  return { eval: calls('eval'), evalsha: calls('evalsha') };
}

/** Connections named `name` in CLIENT LIST. */
/** Connections named `<name>:<client>` (the owner, as in the `redis_*` metrics). */
async function namedClients(raw: Redis, name: string): Promise<number> {
  const list = (await raw.client('LIST')) as string;
  return list.split('\n').filter((line) => line.includes(` name=${name}:`)).length;
}

/** RedisProcess.kill() waits forever on a process that is already dead, so never let cleanup hang on it. */
async function stopQuietly(proc: RedisProcess | undefined): Promise<void> {
  if (!proc) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([proc.stop(), new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
  clearTimeout(timer);
}

const INCR_BY: { name: string; lua: string; numberOfKeys: number } = {
  name: 'boTestIncrBy',
  lua: "return redis.call('INCRBY', KEYS[1], ARGV[1])",
  numberOfKeys: 1,
};

let unhandled: jest.SpyInstance;

beforeAll(() => {
  Logger.overrideLogger(false);
});

beforeEach(() => {
  // ioredis prints this (and nothing else) when an 'error' event has no listener.
  unhandled = jest.spyOn(console, 'error');
});

afterEach(async () => {
  await Promise.all(services.splice(0).map((redis) => redis.onApplicationShutdown()));
  const ioredisErrors = unhandled.mock.calls.filter((args) => String(args[0]).includes('Unhandled error event'));
  unhandled.mockRestore();
  expect(ioredisErrors).toEqual([]);
});

describe('RedisService without Redis settings', () => {
  it('reports not_configured, refuses the client and starts and stops harmlessly', async () => {
    const redis = service({ keyPrefix: 'ignored:' });
    const states = recordStates(redis);
    expect(redis.configured).toBe(false);
    expect(redis.state).toBe('not_configured');
    expect(redis.isReady).toBe(false);
    expect(() => redis.client).toThrow(RedisUnavailableError);
    expect(() => redis.client).toThrow(expect.objectContaining({ state: 'not_configured' }));
    expect(() => redis.createConnection()).toThrow(RedisUnavailableError);
    expect(() => redis.defineScript(INCR_BY)).toThrow(RedisUnavailableError);
    await expect(redis.ping()).rejects.toBeInstanceOf(RedisUnavailableError);

    await expect(redis.onModuleInit()).resolves.toBeUndefined();
    await expect(redis.onApplicationShutdown()).resolves.toBeUndefined();
    await expect(redis.onApplicationShutdown()).resolves.toBeUndefined();
    expect(redis.state).toBe('not_configured');
    expect(states).toEqual([]);
  });
});

describe('RedisService on the shared Redis', () => {
  let raw: Redis;
  beforeAll(() => {
    raw = rawRedis();
  });
  afterAll(() => raw.quit());

  it('becomes ready and writes every key under the key prefix', async () => {
    const prefix = uniquePrefix('redis');
    const key = `seat-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const redis = service({ url: TEST_REDIS_URL, keyPrefix: prefix });
    const states = recordStates(redis);
    expect(redis.state).toBe('connecting');

    await redis.onModuleInit();
    expect(redis.state).toBe('ready');
    expect(redis.isReady).toBe(true);
    expect(states).toEqual(['connecting->ready']);
    expect(redis.prefix).toBe(prefix);

    try {
      await redis.client.set(key, 'held', 'PX', 60_000);
      expect(await redis.client.get(key)).toBe('held');
      expect(await raw.exists(prefix + key)).toBe(1);
      expect(await raw.get(prefix + key)).toBe('held');
      expect(await raw.exists(key)).toBe(0);
      expect(await redis.ping()).toBeGreaterThanOrEqual(0);
    } finally {
      await raw.del(prefix + key);
    }
  });

  it("uses the default prefix 'bo:' when none is given", () => {
    expect(service({ url: TEST_REDIS_URL }).prefix).toBe('bo:');
  });

  it('closes the request-path client and every derived connection at shutdown, and a second shutdown is harmless', async () => {
    const redis = service({ url: TEST_REDIS_URL, keyPrefix: uniquePrefix('redis') });
    await redis.onModuleInit();
    const subscriber = redis.createConnection();
    const worker = redis.createConnection({ enableOfflineQueue: false });
    await (subscriber as Redis).connect();
    const connections = [redis.client, subscriber, worker];
    const states = recordStates(redis);

    const shutdown = await settle(redis.onApplicationShutdown());
    expect(shutdown.error).toBeUndefined();
    expect(shutdown.ms).toBeLessThan(1000);
    // See the report: the QUIT reply resolves shutdown a moment before the socket closes.
    await Promise.all(connections.map((connection) => ended(connection)));
    expect(connections.map((connection) => connection.status)).toEqual(['end', 'end', 'end']);

    await expect(redis.onApplicationShutdown()).resolves.toBeUndefined();
    expect(states).toEqual([]); // shutdown is not reported as an outage
    await expect(redis.client.get('anything')).rejects.toThrow('Connection is closed');
  });
});

describe('RedisService on a private Redis', () => {
  let proc: RedisProcess;
  let raw: Redis;
  beforeAll(async () => {
    proc = await RedisProcess.start();
    raw = rawRedis(proc.url);
  });
  afterAll(async () => {
    await raw?.quit();
    await stopQuietly(proc);
  });

  describe('defineScript', () => {
    it('registers the script once and calls it by SHA, with the key prefix applied to KEYS', async () => {
      const prefix = uniquePrefix('script');
      const redis = service({ url: proc.url, keyPrefix: prefix });
      await redis.onModuleInit();
      const incrBy = redis.defineScript<number>(INCR_BY);
      await raw.config('RESETSTAT');

      const calls = 6;
      const results: number[] = [];
      for (let i = 0; i < calls; i++) results.push(await incrBy(['counter'], [2]));

      expect(results).toEqual([2, 4, 6, 8, 10, 12]);
      expect(await raw.get(`${prefix}counter`)).toBe('12');
      expect(await raw.exists('counter')).toBe(0);
      const stats = await commandStats(raw);
      // ioredis sends the script body once per socket (EVAL, which also caches it), then only its SHA.
      expect(stats.eval).toBeLessThanOrEqual(1);
      expect(stats.evalsha).toBeGreaterThanOrEqual(calls - 1);
      expect(stats.eval + stats.evalsha).toBeGreaterThanOrEqual(calls);
    });

    it('defines a script once; the same name with other Lua, or a Redis command name, throws', async () => {
      const prefix = uniquePrefix('script');
      const redis = service({ url: proc.url, keyPrefix: prefix });
      await redis.onModuleInit();
      const first = redis.defineScript<number>(INCR_BY);
      const again = redis.defineScript<number>(INCR_BY);
      expect(() => redis.defineScript<number>({ ...INCR_BY, lua: 'return 42' })).toThrow(/already defined/);
      expect(() => redis.defineScript<number>({ ...INCR_BY, name: 'get' })).toThrow(/taken/);

      expect(await first(['counter'], [1])).toBe(1);
      expect(await again(['counter'], [1])).toBe(2);
      const sha = (lua: string) => createHash('sha1').update(lua).digest('hex');
      expect(await raw.script('EXISTS', sha(INCR_BY.lua), sha('return 42'))).toEqual([1, 0]);
    });

    it('falls back to EVAL and goes on working after the server forgets its scripts', async () => {
      const prefix = uniquePrefix('script');
      const redis = service({ url: proc.url, keyPrefix: prefix });
      await redis.onModuleInit();
      const incrBy = redis.defineScript<number>(INCR_BY);
      expect(await incrBy(['counter'], [5])).toBe(5);
      expect(await incrBy(['counter'], [5])).toBe(10);
      await raw.script('FLUSH');
      expect(await incrBy(['counter'], [5])).toBe(15);
      expect(await incrBy(['counter'], [5])).toBe(20);
    });
  });

  it("names its connections 'box-office:<owner>' in CLIENT LIST and leaves none behind after shutdown", async () => {
    const redis = service({ url: proc.url, keyPrefix: uniquePrefix('clients') });
    await redis.onModuleInit();
    const extra = [redis.createConnection(), redis.createConnection({}, 'cache')];
    await Promise.all(extra.map((connection) => (connection as Redis).connect()));
    expect(await namedClients(raw, 'box-office')).toBe(3);
    const names = ((await raw.client('LIST')) as string).match(/ name=box-office:\S+/g)?.sort();
    expect(names).toEqual([' name=box-office:cache', ' name=box-office:main', ' name=box-office:shared']);

    await redis.onApplicationShutdown();
    await Promise.all([redis.client, ...extra].map((connection) => ended(connection)));
    expect(await namedClients(raw, 'box-office')).toBe(0);
  });

  it('uses connectionName when given', async () => {
    const redis = service({ url: proc.url, connectionName: 'box-office-worker' });
    await redis.onModuleInit();
    expect(await namedClients(raw, 'box-office-worker')).toBe(1);
  });

  describe('paused with SIGSTOP (sockets open, no answers)', () => {
    afterEach(() => proc.resume());

    it('fails a command with a timeout after about commandTimeoutMs, and works again on resume', async () => {
      const redis = service({ url: proc.url, keyPrefix: uniquePrefix('paused'), commandTimeoutMs: 100 });
      await redis.onModuleInit();
      expect(redis.state).toBe('ready');

      proc.pause();
      const result = await settle(redis.client.get('anything'));
      expect(result.error?.message).toMatch(/timed out/i);
      expect(result.ms).toBeGreaterThanOrEqual(80);
      expect(result.ms).toBeLessThan(1000);
      expect(redis.state).toBe('ready'); // a stall is not a disconnect

      proc.resume();
      await expect(redis.client.set('after', '1', 'PX', 10_000)).resolves.toBe('OK');
    });

    it('gives ping its own deadline, shorter than the command timeout', async () => {
      const redis = service({ url: proc.url, keyPrefix: uniquePrefix('paused'), commandTimeoutMs: 5000 });
      await redis.onModuleInit();

      proc.pause();
      const result = await settle(redis.ping(200));
      expect(result.error).toBeInstanceOf(RedisUnavailableError);
      expect(result.ms).toBeGreaterThanOrEqual(180);
      expect(result.ms).toBeLessThan(1000);
    });
  });
});

describe('RedisService when Redis dies and comes back', () => {
  let proc: RedisProcess | undefined;
  afterEach(async () => {
    await stopQuietly(proc);
    proc = undefined;
  });

  it('goes ready -> reconnecting -> down, fails fast while down, and heals on its own after a restart', async () => {
    proc = await RedisProcess.start();
    const redis = service({
      url: proc.url,
      keyPrefix: uniquePrefix('restart'),
      commandTimeoutMs: 200,
      connectTimeoutMs: 300,
    });
    const states = recordStates(redis);
    await redis.onModuleInit();
    const client = redis.client;
    await client.set('before', '1', 'PX', 60_000);

    await proc.kill();
    await waitForState(redis, ['down'], 5000);
    expect(states.slice(0, 3)).toEqual(['connecting->ready', 'ready->reconnecting', 'reconnecting->down']);
    for (let i = 0; i < 3; i++) {
      const result = await settle(client.get('before'));
      expect(result.error?.message).toMatch(/enableOfflineQueue/);
      expect(result.ms).toBeLessThan(50);
    }

    await proc.start();
    await waitForState(redis, ['ready'], 10_000);
    expect(states.at(-1)).toBe('down->ready');
    expect(redis.client).toBe(client);
    await expect(client.set('after', '2', 'PX', 60_000)).resolves.toBe('OK');
    expect(await client.get('after')).toBe('2');
    expect(await client.get('before')).toBeNull(); // SIGKILL without persistence: a new, empty server
  });

  it('shuts down at once while Redis is down, and stops trying to reconnect', async () => {
    proc = await RedisProcess.start();
    const redis = service({ url: proc.url, keyPrefix: uniquePrefix('restart'), connectTimeoutMs: 300 });
    await redis.onModuleInit();
    await proc.kill();
    proc = undefined; // dead for good: nothing left to stop
    await waitForState(redis, ['down'], 5000);

    const shutdown = await settle(redis.onApplicationShutdown());
    expect(shutdown.error).toBeUndefined();
    expect(shutdown.ms).toBeLessThan(500);
    // No reconnect timer may survive shutdown; --detectOpenHandles would name it.
    expect((redis.client as unknown as { reconnectTimeout: unknown }).reconnectTimeout ?? null).toBeNull();
  });
  // ioredis leaves a connection dropped while 'reconnecting' in that status without an 'end' event;
  // the test above shows what matters: shutdown is immediate and no reconnect stays scheduled.
});

describe('RedisService against an unreachable Redis', () => {
  it('at a closed port: starts within the connect timeout, goes down and fails commands at once', async () => {
    const port = await freePort();
    const redis = service({
      url: `redis://127.0.0.1:${port}`,
      keyPrefix: uniquePrefix('closed'),
      connectTimeoutMs: 300,
      commandTimeoutMs: 250,
    });
    const states = recordStates(redis);

    const init = await settle(redis.onModuleInit());
    expect(init.error).toBeUndefined();
    expect(init.ms).toBeLessThan(300 + 200);
    await waitForState(redis, ['down'], 1000);
    expect(states[0]).toBe('connecting->down');
    expect(redis.isReady).toBe(false);

    const command = await settle(redis.client.get('anything'));
    expect(command.error?.message).toMatch(/enableOfflineQueue/);
    expect(command.ms).toBeLessThan(100);
    const ping = await settle(redis.ping(200));
    expect(ping.error).toBeDefined();
    expect(ping.ms).toBeLessThan(100);
  });

  it('at a server that accepts and never answers: start is bounded, commands and ping fail fast, shutdown does not hang', async () => {
    const silent = await silentServer();
    const redis = service({
      url: `redis://127.0.0.1:${silent.port}`,
      keyPrefix: uniquePrefix('silent'),
      connectTimeoutMs: 300,
      commandTimeoutMs: 100,
    });
    try {
      const init = await settle(redis.onModuleInit());
      expect(init.error).toBeUndefined();
      expect(init.ms).toBeGreaterThanOrEqual(250);
      expect(init.ms).toBeLessThan(300 + 300);
      expect(redis.state).toBe('connecting'); // the handshake never completes

      const command = await settle(redis.client.get('anything'));
      expect(command.error?.message).toMatch(/enableOfflineQueue/); // not connected yet: refused, not queued
      expect(command.ms).toBeLessThan(50);

      const ping = await settle(redis.ping(200));
      expect(ping.error).toBeDefined();
      expect(ping.ms).toBeLessThan(300);

      const shutdown = await settle(redis.onApplicationShutdown());
      expect(shutdown.error).toBeUndefined();
      expect(shutdown.ms).toBeLessThan(1500);
    } finally {
      await silent.close();
    }
    // Once the server hangs up, the client ends instead of reconnecting.
    await ended(redis.client, 1000);
  });
});

describe('RedisService.hashKeyPart', () => {
  const inputs = ['', 'a', 'A', 'user@example.com', '{tag}', 'a:b:c', '}{', 'ünïcødé ✓', 'x'.repeat(10_000)];

  describe.each(
    inputs.map((input) => [
      input.length > 40 ? `${input.slice(0, 10)}… (${input.length} chars)` : JSON.stringify(input),
      input,
    ]),
  )('of %s', (_label, input) => {
    it('is 22 base64url characters with no hash tag braces or key separators, and the same every time', () => {
      const hashed = RedisService.hashKeyPart(input);
      expect(hashed).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(hashed).not.toMatch(/[{}:]/);
      expect(RedisService.hashKeyPart(input)).toBe(hashed);
    });
  });

  it('differs for different inputs', () => {
    const hashes = inputs.map((input) => RedisService.hashKeyPart(input));
    expect(new Set(hashes).size).toBe(inputs.length);
  });
});
