import type { RedisScriptCall, RedisService } from '../redis';
import type { SessionRecord, SessionStore } from './session.store';

// A session is a hash with a TTL; its user's index is a sorted set of session ids by creation.
// Both keys carry the `{partition}` hash tag, so the scripts below stay in one Cluster slot.
const sessionKey = (partition: string, id: string) => `sess:{${partition}}:${id}`;
const indexKey = (partition: string) => `sidx:{${partition}}`;

/** KEYS: session, index. ARGV: id, createdAt, absoluteExpiresAt, idleMs, field/value pairs… */
const CREATE = `
redis.call('HSET', KEYS[1], 'idleMs', ARGV[4], unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) - tonumber(ARGV[2]))))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[2]) < 0 then
  redis.call('PEXPIREAT', KEYS[2], ARGV[3])
else
  redis.call('PEXPIREAT', KEYS[2], ARGV[3], 'GT')
end
return 1`;

/** KEYS: session, index. ARGV: id, now, idleMs. Returns the hash, or nil when dead (and removes it). */
const TOUCH = `
local f = redis.call('HMGET', KEYS[1], 'lastSeenAt', 'absoluteExpiresAt')
if not f[1] then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
local now, idle = tonumber(ARGV[2]), tonumber(ARGV[3])
local last, absolute = tonumber(f[1]), tonumber(f[2])
if now > last + idle or now > absolute then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
if now > last then redis.call('HSET', KEYS[1], 'lastSeenAt', ARGV[2]) end
redis.call('HSET', KEYS[1], 'idleMs', ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.max(1, math.min(idle, absolute - now)))
return redis.call('HGETALL', KEYS[1])`;

/**
 * KEYS: index. ARGV: session key prefix (with the app prefix, ending in ':'), id to keep or ''.
 * Session keys are built from the index; they share its hash tag, so they share its slot.
 */
const REVOKE_ALL = `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local removed = 0
for _, id in ipairs(ids) do
  if id ~= ARGV[2] then
    removed = removed + redis.call('DEL', ARGV[1] .. id)
    redis.call('ZREM', KEYS[1], id)
  end
end
return removed`;

function toFields(session: SessionRecord): string[] {
  const fields: Record<string, string> = {
    userId: session.userId,
    roles: JSON.stringify(session.roles),
    createdAt: String(session.createdAt),
    lastSeenAt: String(session.lastSeenAt),
    absoluteExpiresAt: String(session.absoluteExpiresAt),
  };
  if (session.userAgent !== null) fields.userAgent = session.userAgent;
  if (session.ip !== null) fields.ip = session.ip;
  return Object.entries(fields).flat();
}

function fromHash(partition: string, id: string, hash: Record<string, string>): SessionRecord {
  return {
    id,
    partition,
    userId: hash.userId!,
    roles: JSON.parse(hash.roles ?? '[]') as string[],
    createdAt: Number(hash.createdAt),
    lastSeenAt: Number(hash.lastSeenAt),
    absoluteExpiresAt: Number(hash.absoluteExpiresAt),
    userAgent: hash.userAgent ?? null,
    ip: hash.ip ?? null,
  };
}

const pairsToHash = (pairs: string[]): Record<string, string> => {
  const hash: Record<string, string> = {};
  for (let i = 0; i < pairs.length; i += 2) hash[pairs[i]!] = pairs[i + 1]!;
  return hash;
};

/** Sessions in Redis: one script call per create, touch or revoke-all. */
export class RedisSessionStore implements SessionStore {
  private readonly createScript: RedisScriptCall<number>;
  private readonly touchScript: RedisScriptCall<string[] | null>;
  private readonly revokeAllScript: RedisScriptCall<number>;

  constructor(private readonly redis: RedisService) {
    this.createScript = redis.defineScript({ name: 'boSessionCreate', lua: CREATE, numberOfKeys: 2 });
    this.touchScript = redis.defineScript({ name: 'boSessionTouch', lua: TOUCH, numberOfKeys: 2 });
    this.revokeAllScript = redis.defineScript({ name: 'boSessionRevokeAll', lua: REVOKE_ALL, numberOfKeys: 1 });
  }

  async create(session: SessionRecord, idleMs: number): Promise<void> {
    await this.createScript(
      [sessionKey(session.partition, session.id), indexKey(session.partition)],
      [session.id, session.createdAt, session.absoluteExpiresAt, idleMs, ...toFields(session)],
    );
  }

  async touch(partition: string, id: string, now: number, idleMs: number): Promise<SessionRecord | null> {
    const pairs = await this.touchScript([sessionKey(partition, id), indexKey(partition)], [id, now, idleMs]);
    return pairs ? fromHash(partition, id, pairsToHash(pairs)) : null;
  }

  async list(partition: string, now: number): Promise<SessionRecord[]> {
    const client = this.redis.client;
    const ids = await client.zrevrange(indexKey(partition), 0, -1);
    if (!ids.length) return [];
    const pipeline = client.pipeline();
    for (const id of ids) pipeline.hgetall(sessionKey(partition, id));
    const replies = (await pipeline.exec()) ?? [];
    const live: SessionRecord[] = [];
    const dead: string[] = [];
    ids.forEach((id, i) => {
      const [error, hash] = replies[i] ?? [];
      if (error) throw error;
      const fields = hash as Record<string, string>;
      if (!fields || !fields.lastSeenAt) return void dead.push(id);
      const session = fromHash(partition, id, fields);
      if (now > session.absoluteExpiresAt || now > session.lastSeenAt + Number(fields.idleMs)) dead.push(id);
      else live.push(session);
    });
    if (dead.length) {
      await client
        .multi()
        .del(...dead.map((id) => sessionKey(partition, id)))
        .zrem(indexKey(partition), ...dead)
        .exec();
    }
    return live;
  }

  async revoke(partition: string, id: string): Promise<boolean> {
    const replies = await this.redis.client.multi().del(sessionKey(partition, id)).zrem(indexKey(partition), id).exec();
    const [error, deleted] = replies?.[0] ?? [];
    if (error) throw error;
    return deleted === 1;
  }

  revokeAll(partition: string, exceptId = ''): Promise<number> {
    return this.revokeAllScript([indexKey(partition)], [`${this.redis.prefix}sess:{${partition}}:`, exceptId]);
  }
}
