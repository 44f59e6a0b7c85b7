import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { RedisClient, RedisScriptCall, RedisService } from '../redis';
import type { CacheEntry, CacheSignal, CacheStore } from './cache.store';

// An entry and its fill lease share the `{key}` hash tag, so the fill script stays in one Cluster
// slot. Tags are single keys. Every name sits under `cache:` and the app prefix.
const entryKey = (key: string) => `cache:{${key}}:e`;
const leaseKey = (key: string) => `cache:{${key}}:l`;
const tagKey = (tag: string) => `cache:t:${tag}`;
/**
 * Tag counters expire after a week without an invalidation, so tags of deleted things do not pile
 * up. Safe: a counter that comes back starts from the clock, above every version it had, so the
 * entries stamped with the old one become misses, never stale hits.
 */
const TAG_TTL_MS = 7 * 86_400_000;

// Versions come from the server clock in µs, as strings (Lua numbers would lose digits), so a tag
// key that was evicted comes back with a higher version than any entry was stamped with.
const CLOCK = `local t = redis.call('TIME')
local now = t[1] .. string.rep('0', 6 - #t[2]) .. t[2]`;

/** KEYS: tag. ARGV: ttl ms. */
const TAG_VERSION = `local v = redis.call('GET', KEYS[1])
if v then return v end
${CLOCK}
redis.call('SET', KEYS[1], now, 'PX', ARGV[1])
return now`;

/** KEYS: tag. ARGV: channel, message prefix, ttl ms. */
const TAG_BUMP = `${CLOCK}
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(now) then
  redis.call('INCR', KEYS[1])
  now = redis.call('GET', KEYS[1])
else
  redis.call('SET', KEYS[1], now)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[1], ARGV[2] .. now)
return now`;

/** KEYS: entry, lease. ARGV: value, ttl ms, owner or '', channel, message. */
const FILL = `redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1`;

/** KEYS: lease. ARGV: owner. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** KEYS: entry. ARGV: channel, message. */
const DELETE = `redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1`;

type Script = RedisScriptCall<string | number | null>;

/**
 * The shared tier: entries as strings (a JSON header line, then the payload), tag versions, fill
 * leases, and a pub/sub channel that tells every instance which L1 entries and tag versions went
 * stale. Commands go through a connection of the cache's own with a short timeout and no offline
 * queue, so a slow Redis costs one timeout and the service goes to the source.
 */
export class RedisCacheStore implements CacheStore {
  readonly shared = true;
  private readonly logger = new Logger('Cache');
  private readonly conn: RedisClient;
  private readonly sub: RedisClient;
  private readonly channel: string;
  private readonly listeners: ((signal: CacheSignal) => void)[] = [];
  private readonly scripts: Record<'tagVersion' | 'tagBump' | 'fill' | 'release' | 'delete', Script>;
  private subscribed = false;
  private readonly subscribeTimeoutMs: number;

  constructor(
    private readonly redis: RedisService,
    options: { commandTimeoutMs: number; subscribeTimeoutMs?: number },
  ) {
    this.channel = `${redis.prefix}cache:signals`;
    this.conn = redis.createConnection(
      {
        keyPrefix: redis.prefix,
        enableOfflineQueue: false,
        commandTimeout: options.commandTimeoutMs,
        maxRetriesPerRequest: 0,
      },
      'cache',
    );
    // The subscriber resubscribes by hand after each reconnect, and only then says `reset`:
    // whatever was published while it was away is lost, so local copies cannot be trusted.
    this.sub = redis.createConnection({ autoResubscribe: false, enableOfflineQueue: true }, 'cache-sub');
    this.subscribeTimeoutMs = options.subscribeTimeoutMs ?? 2000;
    this.sub.on('ready', () => void this.subscribe());
    this.sub.on('close', () => (this.subscribed = false));
    this.sub.on('message', (_channel: string, message: string) => this.onMessage(message));
    const define = (name: string, lua: string, numberOfKeys: number) =>
      redis.defineScript<string | number | null>({ name, lua, numberOfKeys }, this.conn);
    this.scripts = {
      tagVersion: define('boCacheTagVersion', TAG_VERSION, 1),
      tagBump: define('boCacheTagBump', TAG_BUMP, 1),
      fill: define('boCacheFill', FILL, 2),
      release: define('boCacheRelease', RELEASE, 1),
      delete: define('boCacheDelete', DELETE, 1),
    };
  }

  get ready(): boolean {
    return this.subscribed && this.conn.status === 'ready';
  }

  /**
   * Starts connecting and waits until ready, or `waitMs` at most: a Redis that is down must not
   * hold up the start. Until ready, callers go to the source.
   */
  async connect(waitMs = this.redis.connectTimeoutMs): Promise<void> {
    void this.conn.connect().catch(() => undefined);
    void this.sub.connect().catch(() => undefined);
    const deadline = Date.now() + waitMs;
    while (!this.ready && Date.now() < deadline) await sleep(10);
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    try {
      const raw = await this.conn.get(entryKey(key));
      return raw === null ? undefined : decodeEntry(raw);
    } catch (error) {
      // Something else sits at the key: a miss (the next fill overwrites it), not an outage.
      if (error instanceof Error && error.message.startsWith('WRONGTYPE')) return undefined;
      throw error;
    }
  }

  async fill(key: string, entry: CacheEntry, owner = ''): Promise<void> {
    const ttl = Math.max(1, Math.ceil(entry.staleUntil - Date.now()));
    await this.scripts.fill(
      [entryKey(key), leaseKey(key)],
      [encodeEntry(entry), ttl, owner, this.channel, `f|${key}|${owner}`],
    );
  }

  async delete(key: string): Promise<void> {
    await this.scripts.delete([entryKey(key)], [this.channel, `k|${key}`]);
  }

  async tagVersions(tags: string[]): Promise<string[]> {
    return Promise.all(tags.map(async (tag) => String(await this.scripts.tagVersion([tagKey(tag)], [TAG_TTL_MS]))));
  }

  async invalidateTag(tag: string): Promise<string> {
    return String(await this.scripts.tagBump([tagKey(tag)], [this.channel, `t|${tag}|`, TAG_TTL_MS]));
  }

  async acquireFill(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.conn.set(leaseKey(key), owner, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK';
  }

  async releaseFill(key: string, owner: string): Promise<void> {
    await this.scripts.release([leaseKey(key)], [owner]);
  }

  /** Removes `cache:*` under the app prefix (never FLUSHDB, which would take sessions and queues with it). */
  async clear(): Promise<void> {
    await this.redis.deleteByPrefix('cache:');
    await this.conn.publish(this.channel, 'r');
  }

  onSignal(listener: (signal: CacheSignal) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Subscribes after every (re)connect. A SUBSCRIBE that is not confirmed in time (seen here now
   * and then with ioredis 6 on a fresh connection) or that fails makes the subscriber reconnect and
   * try again: without the channel the L1 cannot be trusted, and the cache would quietly go to Redis
   * or the source for every request.
   */
  private async subscribe(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('SUBSCRIBE not confirmed in time')), this.subscribeTimeoutMs);
    });
    try {
      await Promise.race([this.sub.subscribe(this.channel), timeout]);
      this.subscribed = true;
      this.emit({ kind: 'reset' });
    } catch (error) {
      if (this.sub.status !== 'ready') return; // closing or reconnecting: the next 'ready' subscribes
      this.logger.warn(`cache signal subscription failed, reconnecting: ${(error as Error).message}`);
      this.sub.disconnect(true);
    } finally {
      clearTimeout(timer);
    }
  }

  private onMessage(message: string): void {
    const kind = message[0];
    if (kind === 'k') this.emit({ kind: 'key', key: message.slice(2) });
    else if (kind === 'f') {
      const end = message.indexOf('|', 2);
      this.emit({ kind: 'fill', key: message.slice(2, end), owner: message.slice(end + 1) });
    } else if (kind === 't') {
      const end = message.lastIndexOf('|');
      this.emit({ kind: 'tag', tag: message.slice(2, end), version: message.slice(end + 1) });
    } else if (kind === 'r') this.emit({ kind: 'reset' });
  }

  private emit(signal: CacheSignal): void {
    for (const listener of this.listeners) listener(signal);
  }
}

/** A JSON header line, then the payload verbatim: the payload is never escaped twice. */
export function encodeEntry(entry: CacheEntry): string {
  return `${JSON.stringify([entry.freshUntil, entry.staleUntil, entry.tags, entry.versions])}\n${entry.payload}`;
}

export function decodeEntry(raw: string): CacheEntry | undefined {
  const newline = raw.indexOf('\n');
  if (newline < 0) return undefined;
  try {
    const header: unknown = JSON.parse(raw.slice(0, newline));
    if (!isHeader(header)) return undefined;
    const [freshUntil, staleUntil, tags, versions] = header;
    return { payload: raw.slice(newline + 1), freshUntil, staleUntil, tags, versions };
  } catch {
    return undefined; // a foreign or corrupt value is a miss, never an error
  }
}

function isHeader(value: unknown): value is [number, number, string[], string[]] {
  if (!Array.isArray(value) || value.length !== 4) return false;
  const [fresh, stale, tags, versions] = value as unknown[];
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
  return (
    typeof fresh === 'number' &&
    typeof stale === 'number' &&
    strings(tags) &&
    strings(versions) &&
    tags.length === versions.length
  );
}
