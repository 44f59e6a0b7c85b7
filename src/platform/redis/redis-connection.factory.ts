import { isIP } from 'node:net';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisModuleOptions } from './redis.module-definition';

export type RedisClient = Redis | Cluster;

/** Reconnect forever with capped exponential backoff and jitter; a restart of Redis must heal on its own. */
export const reconnectBackoff = (attempt: number): number =>
  Math.min(50 * 2 ** Math.min(attempt, 10), 2000) + Math.floor(Math.random() * 100);

export function isRedisConfigured(options: RedisModuleOptions): boolean {
  return Boolean(options.url || options.sentinels?.length || options.clusterNodes?.length);
}

/** Connection settings shared by every connection: credentials, db and TLS from the URL. */
function baseOptions(options: RedisModuleOptions): RedisOptions {
  const base: RedisOptions = {
    connectTimeout: options.connectTimeoutMs ?? 2000,
    retryStrategy: reconnectBackoff,
    lazyConnect: true,
    connectionName: options.connectionName ?? 'box-office',
  };
  if (!options.url) return base;
  const url = new URL(options.url);
  // WHATWG URL keeps the brackets of an IPv6 literal; ioredis wants the bare address.
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const isIpLiteral = isIP(hostname) !== 0;
  if (url.username) base.username = decodeURIComponent(url.username);
  if (url.password) base.password = decodeURIComponent(url.password);
  const db = url.pathname.replace('/', '');
  if (db) base.db = Number(db);
  if (url.protocol === 'rediss:') {
    base.tls = {
      rejectUnauthorized: options.tlsRejectUnauthorized ?? true,
      // SNI carries host names only, never IP literals.
      ...(isIpLiteral ? {} : { servername: hostname }),
    };
  }
  if (!options.sentinels?.length && !options.clusterNodes?.length) {
    base.host = hostname;
    base.port = Number(url.port || 6379);
  }
  return base;
}

/**
 * Builds one ioredis connection (standalone, Sentinel or Cluster) from the module options.
 * `overrides` lets a consumer such as a queue or a subscriber ask for its own settings.
 */
export function createRedisConnection(options: RedisModuleOptions, overrides: RedisOptions = {}): RedisClient {
  const redisOptions: RedisOptions = { ...baseOptions(options), ...overrides };
  if (options.clusterNodes?.length) {
    const { keyPrefix, enableOfflineQueue, ...nodeOptions } = redisOptions;
    return new Cluster(options.clusterNodes, {
      redisOptions: nodeOptions,
      keyPrefix,
      enableOfflineQueue,
      lazyConnect: true,
      clusterRetryStrategy: reconnectBackoff,
      // Cluster nodes behind TLS (or NAT) are reached by the seed hostnames, not announced IPs.
      dnsLookup: (address, callback) => callback(null, address),
    });
  }
  if (options.sentinels?.length) {
    return new Redis({
      ...redisOptions,
      sentinels: options.sentinels,
      name: options.sentinelName ?? 'mymaster',
      sentinelTLS: redisOptions.tls,
      enableTLSForSentinelMode: Boolean(redisOptions.tls),
    });
  }
  return new Redis(redisOptions);
}
