import { EventEmitter } from 'node:events';
import type { KeyvStoreAdapter, StoredData } from 'keyv';
import type { RedisClient, RedisService } from '../redis';

/**
 * The Keyv store behind CACHE_MANAGER: the app's ioredis connection, keys under `cache:kv:` and
 * the app prefix. We wrote it because the alternatives do not fit a shared Redis:
 * cache-manager-ioredis-yet's `clear()` is FLUSHDB (sessions, queues and limits would go with
 * it) and it targets ioredis 5; @keyv/redis brings node-redis and a second connection;
 * @keyv/valkey wants an iovalkey client. `clear()` here removes this namespace and nothing else.
 */
export class IoredisKeyvStore extends EventEmitter implements KeyvStoreAdapter {
  readonly opts = { dialect: 'redis' };
  namespace?: string;
  private static readonly SPACE = 'cache:kv:';

  private readonly client: RedisClient;

  constructor(private readonly redis: RedisService) {
    super();
    this.client = redis.client;
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    const value = await this.client.get(this.key(key));
    return (value ?? undefined) as StoredData<Value> | undefined;
  }

  async set(key: string, value: unknown, ttl?: number): Promise<void> {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    if (ttl && ttl > 0) await this.client.set(this.key(key), text, 'PX', Math.ceil(ttl));
    else await this.client.set(this.key(key), text);
  }

  async delete(key: string): Promise<boolean> {
    return (await this.client.del(this.key(key))) > 0;
  }

  async has(key: string): Promise<boolean> {
    return (await this.client.exists(this.key(key))) > 0;
  }

  async clear(): Promise<void> {
    await this.redis.deleteByPrefix(IoredisKeyvStore.SPACE);
  }

  /** The connection belongs to RedisService, which closes it. */
  async disconnect(): Promise<void> {}

  private key(key: string): string {
    return `${IoredisKeyvStore.SPACE}${key}`;
  }
}
