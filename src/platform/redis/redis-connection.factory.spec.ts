import { Cluster, Redis } from 'ioredis';
import {
  createRedisConnection,
  isRedisConfigured,
  reconnectBackoff,
  type RedisClient,
} from './redis-connection.factory';
import type { RedisModuleOptions } from './redis.module-definition';

// Every connection is built lazily (the factory always sets lazyConnect), so nothing here touches the network.
describe('createRedisConnection', () => {
  const opened: RedisClient[] = [];
  const build = (options: RedisModuleOptions, overrides = {}): RedisClient => {
    const connection = createRedisConnection(options, overrides);
    opened.push(connection);
    return connection;
  };
  afterEach(() => {
    for (const connection of opened.splice(0)) connection.disconnect();
  });

  it('takes host, port, credentials and db from the URL, percent-decoded, and never connects by itself', () => {
    const redis = build({ url: 'redis://us%40er:p%3As%2Fw%20rd@cache.internal:6380/3' }) as Redis;
    expect(redis).toBeInstanceOf(Redis);
    expect(redis.status).toBe('wait');
    expect(redis.options).toMatchObject({
      host: 'cache.internal',
      port: 6380,
      username: 'us@er',
      password: 'p:s/w rd',
      db: 3,
      lazyConnect: true,
      connectionName: 'box-office',
      connectTimeout: 2000,
      retryStrategy: reconnectBackoff,
    });
    expect(redis.options.tls).toBeUndefined();
  });

  it('defaults the port to 6379 and leaves db and credentials unset when the URL has none', () => {
    const redis = build({ url: 'redis://cache.internal' }) as Redis;
    expect(redis.options.port).toBe(6379);
    expect(redis.options.db).toBe(0); // ioredis' own default: nothing was parsed from the URL
    expect(redis.options.username ?? undefined).toBeUndefined();
    expect(redis.options.password ?? undefined).toBeUndefined();
  });

  // WHATWG URL keeps the brackets in `hostname`; ioredis would look up "[::1]" in DNS.
  it('an IPv6 literal host reaches ioredis without its URL brackets', () => {
    const redis = build({ url: 'redis://[::1]:6380' }) as Redis;
    expect(redis.options.host).toBe('::1');
  });

  it('takes a password given without a username', () => {
    const redis = build({ url: 'redis://:only%23secret@cache.internal' }) as Redis;
    expect(redis.options.password).toBe('only#secret');
    expect(redis.options.username ?? undefined).toBeUndefined();
  });

  it('applies connectTimeoutMs and connectionName, and lets overrides win over the module options', () => {
    const redis = build(
      { url: 'redis://cache.internal', connectTimeoutMs: 150, connectionName: 'box-office-api' },
      { connectionName: 'box-office-subscriber', enableOfflineQueue: false },
    ) as Redis;
    expect(redis.options).toMatchObject({
      connectTimeout: 150,
      connectionName: 'box-office-subscriber',
      enableOfflineQueue: false,
    });
  });

  describe.each([
    { tlsRejectUnauthorized: undefined, expected: true },
    { tlsRejectUnauthorized: true, expected: true },
    { tlsRejectUnauthorized: false, expected: false },
  ])('rediss:// with tlsRejectUnauthorized=$tlsRejectUnauthorized', ({ tlsRejectUnauthorized, expected }) => {
    it(`turns TLS on with the URL host as servername and rejectUnauthorized ${expected}`, () => {
      const redis = build({ url: 'rediss://default:pw@secure.example.com:6380', tlsRejectUnauthorized }) as Redis;
      expect(redis.options.tls).toEqual({ servername: 'secure.example.com', rejectUnauthorized: expected });
      expect(redis.options).toMatchObject({
        host: 'secure.example.com',
        port: 6380,
        username: 'default',
        password: 'pw',
      });
    });
  });

  it('builds a Sentinel client: sentinels and master name, credentials and db still from the URL', () => {
    const sentinels = [
      { host: 's1.internal', port: 26379 },
      { host: 's2.internal', port: 26380 },
    ];
    const redis = build({ url: 'redis://:pw@ignored-host:1234/2', sentinels, sentinelName: 'tickets' }) as Redis;
    expect(redis).toBeInstanceOf(Redis);
    expect(redis.options).toMatchObject({
      sentinels,
      name: 'tickets',
      password: 'pw',
      db: 2,
      enableTLSForSentinelMode: false,
    });
    // The master address comes from the sentinels, never from the URL host.
    expect(redis.options.host).not.toBe('ignored-host');
    expect(redis.options.port).not.toBe(1234);
  });

  it("names the Sentinel master group 'mymaster' by default and carries TLS to the sentinels on rediss://", () => {
    const redis = build({ url: 'rediss://secure.example.com', sentinels: [{ host: 's1', port: 26379 }] }) as Redis;
    expect(redis.options.name).toBe('mymaster');
    expect(redis.options.enableTLSForSentinelMode).toBe(true);
    expect(redis.options.sentinelTLS).toEqual(redis.options.tls);
  });

  it('builds a Cluster from the seed nodes, with key prefix and offline queue on the cluster and the rest per node', () => {
    const clusterNodes = [
      { host: 'c1.internal', port: 7000 },
      { host: 'c2.internal', port: 7001 },
    ];
    const cluster = build(
      { url: 'redis://u:p%21@ignored-host:1234', clusterNodes, connectTimeoutMs: 700 },
      { keyPrefix: 'bo:', enableOfflineQueue: false, commandTimeout: 100 },
    ) as Cluster;
    expect(cluster).toBeInstanceOf(Cluster);
    expect(cluster.status).toBe('wait');
    expect(cluster.options).toMatchObject({
      keyPrefix: 'bo:',
      enableOfflineQueue: false,
      lazyConnect: true,
      clusterRetryStrategy: reconnectBackoff,
    });
    expect(cluster.options.redisOptions).toMatchObject({
      username: 'u',
      password: 'p!',
      connectTimeout: 700,
      commandTimeout: 100,
    });
    expect(cluster.options.redisOptions).not.toHaveProperty('keyPrefix');
    expect(cluster.options.redisOptions).not.toHaveProperty('host');
  });

  it('resolves cluster node names as given (no DNS lookup), so TLS hostnames keep matching', () => {
    const cluster = build({ clusterNodes: [{ host: 'c1.internal', port: 7000 }] }) as Cluster;
    const callback = jest.fn();
    cluster.options.dnsLookup!('c1.internal', callback);
    expect(callback).toHaveBeenCalledWith(null, 'c1.internal');
  });
});

describe('isRedisConfigured', () => {
  describe.each<[string, RedisModuleOptions, boolean]>([
    ['no options', {}, false],
    ['only a key prefix', { keyPrefix: 'bo:' }, false],
    ['an empty URL', { url: '' }, false],
    ['empty sentinel and cluster lists', { sentinels: [], clusterNodes: [] }, false],
    ['a URL', { url: 'redis://127.0.0.1:6379' }, true],
    ['sentinels', { sentinels: [{ host: 's1', port: 26379 }] }, true],
    ['cluster nodes', { clusterNodes: [{ host: 'c1', port: 7000 }] }, true],
  ])('with %s', (_label, options, expected) => {
    it(`is ${expected}`, () => {
      expect(isRedisConfigured(options)).toBe(expected);
    });
  });
});

describe('reconnectBackoff', () => {
  const samples = (attempt: number) => Array.from({ length: 200 }, () => reconnectBackoff(attempt));

  it('never waits more than about two seconds, however many attempts have failed', () => {
    for (const attempt of [1, 5, 10, 11, 50, 1000, Number.MAX_SAFE_INTEGER]) {
      for (const delay of samples(attempt)) {
        expect(delay).toBeGreaterThanOrEqual(100);
        expect(delay).toBeLessThanOrEqual(2100);
      }
    }
  });

  it('grows with each failed attempt until it reaches the cap (jitter never reorders them)', () => {
    // ioredis counts attempts from 1.
    for (let attempt = 1; attempt < 6; attempt++) {
      expect(Math.max(...samples(attempt))).toBeLessThan(Math.min(...samples(attempt + 1)));
    }
    expect(Math.min(...samples(6))).toBeGreaterThanOrEqual(2000);
  });

  it('adds jitter, so replicas that lost Redis together do not reconnect in lockstep', () => {
    expect(new Set(samples(3)).size).toBeGreaterThan(1);
  });
});
