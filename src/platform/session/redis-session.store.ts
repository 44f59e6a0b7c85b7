import { RedisSubscription, type RedisScriptCall, type RedisService } from '../redis';
import type { SessionRecord, SessionTouch, SharedSessionStore } from './session.store';

// A session is a hash with a TTL; its user's index is a sorted set of session ids by creation.
// Both keys carry the `{partition}` hash tag, so the scripts below stay in one Cluster slot.
const sessionKey = (partition: string, id: string) => `sess:{${partition}}:${id}`;
const indexKey = (partition: string) => `sidx:{${partition}}`;

// Key TTLs are idleMs plus a slack (the write-behind interval, so a touch still on its way finds
// the key); whether a session is alive is always decided from its fields, never from the TTL.

/** KEYS: session, index. ARGV: id, createdAt, absoluteExpiresAt, idleMs, slackMs, field/value pairs… */
const CREATE = `
redis.call('HSET', KEYS[1], 'idleMs', ARGV[4], unpack(ARGV, 6))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.min(tonumber(ARGV[4]) + tonumber(ARGV[5]), tonumber(ARGV[3]) - tonumber(ARGV[2]))))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[2]) < 0 then
  redis.call('PEXPIREAT', KEYS[2], ARGV[3])
else
  redis.call('PEXPIREAT', KEYS[2], ARGV[3], 'GT')
end
return 1`;

/**
 * KEYS: session, index. ARGV: id, now, idleMs, slackMs, write ('1': touch; '0': read only).
 * Returns the hash, or nil when dead (and removes it).
 */
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
if ARGV[5] == '1' then
  if now > last then redis.call('HSET', KEYS[1], 'lastSeenAt', ARGV[2]) end
  redis.call('HSET', KEYS[1], 'idleMs', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.min(idle + tonumber(ARGV[4]), absolute - now)))
end
return redis.call('HGETALL', KEYS[1])`;

/**
 * A write-behind touch. KEYS: session. ARGV: seenAt, idleMs, slackMs. The instance that sends it
 * already accepted the use at seenAt, so it only moves lastSeenAt forward; a session that is gone
 * (revoked, expired) is never recreated. Returns 1 when the session was there.
 */
const TOUCH_BEHIND_NAME = 'boSessionTouchBehind';
const TOUCH_BEHIND = `
local f = redis.call('HMGET', KEYS[1], 'lastSeenAt', 'absoluteExpiresAt')
if not f[1] then return 0 end
local seen, idle = tonumber(ARGV[1]), tonumber(ARGV[2])
local absolute = tonumber(f[2])
if seen > absolute then return 0 end
if seen > tonumber(f[1]) then redis.call('HSET', KEYS[1], 'lastSeenAt', ARGV[1]) end
redis.call('HSET', KEYS[1], 'idleMs', ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.max(1, math.min(idle + tonumber(ARGV[3]), absolute - seen)))
return 1`;

/**
 * KEYS: session, index. ARGV: id, channel. The announcement is published by the script that
 * deletes, so no instance can see the session gone from Redis and still trust its copy.
 */
const REVOKE = `
local deleted = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[1])
return deleted`;

/**
 * KEYS: index. ARGV: session key prefix (with the app prefix, ending in ':'), id to keep or '',
 * channel. Session keys are built from the index; they share its hash tag, so they share its slot.
 * Every id taken out of the index is announced, in one message.
 */
const REVOKE_ALL = `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local removed = 0
local gone = {}
for _, id in ipairs(ids) do
  if id ~= ARGV[2] then
    removed = removed + redis.call('DEL', ARGV[1] .. id)
    redis.call('ZREM', KEYS[1], id)
    gone[#gone + 1] = id
  end
end
if #gone > 0 then redis.call('PUBLISH', ARGV[3], table.concat(gone, ' ')) end
return removed`;

function toFields(session: SessionRecord): string[] {
  const fields: Record<string, string> = {
    userId: session.userId,
    roles: JSON.stringify(session.roles),
    createdAt: String(session.createdAt),
    lastSeenAt: String(session.lastSeenAt),
    absoluteExpiresAt: String(session.absoluteExpiresAt),
  };
  if (session.email !== null) fields.email = session.email;
  if (session.userAgent !== null) fields.userAgent = session.userAgent;
  if (session.ip !== null) fields.ip = session.ip;
  return Object.entries(fields).flat();
}

function fromHash(partition: string, id: string, hash: Record<string, string>): SessionRecord {
  return {
    id,
    partition,
    userId: hash.userId!,
    email: hash.email ?? null,
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

export interface RedisSessionStoreOptions {
  /** Added to the TTL of session keys: the write-behind interval, so a touch on its way finds its key. Default 0. */
  ttlSlackMs?: number;
  /** Heartbeat of the revocation channel (PING on the subscriber). Default 250 ms. */
  heartbeatMs?: number;
}

/**
 * Sessions in Redis: one script call per create, touch or revoke; write-behind touches in one
 * pipeline per batch. Revocations are announced on `<prefix>sess:revoked` by the deleting script.
 */
export class RedisSessionStore implements SharedSessionStore {
  readonly shared = true;
  private readonly createScript: RedisScriptCall<number>;
  private readonly touchScript: RedisScriptCall<string[] | null>;
  private readonly touchBehindScript: RedisScriptCall<number>;
  private readonly revokeScript: RedisScriptCall<number>;
  private readonly revokeAllScript: RedisScriptCall<number>;
  private readonly channel: string;
  private readonly slackMs: number;
  private readonly subscription: RedisSubscription;
  private readonly listeners: ((ids: string[]) => void)[] = [];

  constructor(
    private readonly redis: RedisService,
    options: RedisSessionStoreOptions = {},
  ) {
    this.slackMs = options.ttlSlackMs ?? 0;
    this.channel = `${redis.prefix}sess:revoked`;
    this.createScript = redis.defineScript({ name: 'boSessionCreate', lua: CREATE, numberOfKeys: 2 });
    this.touchScript = redis.defineScript({ name: 'boSessionTouch', lua: TOUCH, numberOfKeys: 2 });
    this.touchBehindScript = redis.defineScript({ name: TOUCH_BEHIND_NAME, lua: TOUCH_BEHIND, numberOfKeys: 1 });
    this.revokeScript = redis.defineScript({ name: 'boSessionRevoke', lua: REVOKE, numberOfKeys: 2 });
    this.revokeAllScript = redis.defineScript({ name: 'boSessionRevokeAll', lua: REVOKE_ALL, numberOfKeys: 1 });
    this.subscription = new RedisSubscription(redis, {
      channel: this.channel,
      heartbeatMs: options.heartbeatMs,
      onMessage: (message) => {
        const ids = message.split(' ');
        for (const listener of this.listeners) listener(ids);
      },
    });
  }

  get coverage(): { since: number; upTo: number } {
    return this.subscription.coverage;
  }

  async connect(waitMs = this.redis.connectTimeoutMs): Promise<void> {
    await this.subscription.connect(waitMs);
  }

  close(): Promise<void> {
    return this.subscription.close();
  }

  onRevoked(listener: (ids: string[]) => void): void {
    this.listeners.push(listener);
  }

  async probe(): Promise<void> {
    await this.redis.ping();
  }

  async create(session: SessionRecord, idleMs: number): Promise<void> {
    await this.createScript(
      [sessionKey(session.partition, session.id), indexKey(session.partition)],
      [session.id, session.createdAt, session.absoluteExpiresAt, idleMs, this.slackMs, ...toFields(session)],
    );
  }

  async touch(partition: string, id: string, now: number, idleMs: number): Promise<SessionRecord | null> {
    const pairs = await this.touchScript(
      [sessionKey(partition, id), indexKey(partition)],
      [id, now, idleMs, this.slackMs, '1'],
    );
    return pairs ? fromHash(partition, id, pairsToHash(pairs)) : null;
  }

  async peek(partition: string, id: string, now: number, idleMs: number): Promise<SessionRecord | null> {
    const pairs = await this.touchScript(
      [sessionKey(partition, id), indexKey(partition)],
      [id, now, idleMs, this.slackMs, '0'],
    );
    return pairs ? fromHash(partition, id, pairsToHash(pairs)) : null;
  }

  async touchMany(touches: SessionTouch[], idleMs: number): Promise<boolean[]> {
    if (!touches.length) return [];
    const client = this.redis.client;
    if ('nodes' in client) {
      // A Cluster pipeline must stay in one slot; sessions of different users are not.
      const found = await Promise.all(
        touches.map((t) => this.touchBehindScript([sessionKey(t.partition, t.id)], [t.seenAt, idleMs, this.slackMs])),
      );
      return found.map((value) => value === 1);
    }
    const pipeline = client.pipeline() as unknown as Record<string, (...args: (string | number)[]) => unknown> & {
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    for (const { partition, id, seenAt } of touches) {
      pipeline[TOUCH_BEHIND_NAME]!(sessionKey(partition, id), seenAt, idleMs, this.slackMs);
    }
    const replies = (await pipeline.exec()) ?? [];
    return touches.map((_, i) => {
      const [error, found] = replies[i] ?? [new Error('no reply to a touch')];
      if (error) throw error;
      return found === 1;
    });
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
    return (await this.revokeScript([sessionKey(partition, id), indexKey(partition)], [id, this.channel])) === 1;
  }

  revokeAll(partition: string, exceptId = ''): Promise<number> {
    return this.revokeAllScript(
      [indexKey(partition)],
      [`${this.redis.prefix}sess:{${partition}}:`, exceptId, this.channel],
    );
  }
}
