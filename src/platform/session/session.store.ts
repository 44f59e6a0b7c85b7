import { Inject } from '@nestjs/common';

/** What a session knows about its holder, for the guard and the session listing. */
export interface SessionRecord {
  /** SHA-256 of the token (base64url). The token itself is never stored. */
  id: string;
  /**
   * The user's partition: a hash of the user id, also carried in the token, so a user's
   * session and index share one Redis Cluster slot. Never the raw user id.
   */
  partition: string;
  userId: string;
  /** The user's email at login, so a "who am I" answer needs no database read; null when unknown. */
  email: string | null;
  /** The user's roles at login; a role change revokes the user's sessions. */
  roles: string[];
  /** Epoch milliseconds. */
  createdAt: number;
  lastSeenAt: number;
  /** Epoch ms after which the session is dead whatever its activity. */
  absoluteExpiresAt: number;
  userAgent: string | null;
  ip: string | null;
}

/**
 * Where sessions live: Redis when configured, a bounded in-process map otherwise. Each operation
 * is atomic, and the per-user index is updated together with the session.
 */
export interface SessionStore {
  /** Saves a new session, live for `idleMs` unless touched, and adds it to its user's index. */
  create(session: SessionRecord, idleMs: number): Promise<void>;
  /**
   * Reads a live session and slides its idle expiry to `now + idleMs` (never past the absolute
   * expiry), recording `now` as last seen. Null when it is unknown, idle-expired or past its
   * absolute expiry; a dead session found here is removed with its index entry.
   */
  touch(partition: string, id: string, now: number, idleMs: number): Promise<SessionRecord | null>;
  /** The user's live sessions, newest first; dead index entries are pruned on the way. */
  list(partition: string, now: number): Promise<SessionRecord[]>;
  /** Deletes one session of the partition; false when there was none. */
  revoke(partition: string, id: string): Promise<boolean>;
  /** Deletes every session of the partition except `exceptId`; answers how many went. */
  revokeAll(partition: string, exceptId?: string): Promise<number>;
}

export const SESSION_STORE = Symbol('SESSION_STORE');
export const InjectSessionStore = (): ParameterDecorator => Inject(SESSION_STORE);

/** One write-behind touch: the session was seen at `seenAt` on this instance. */
export interface SessionTouch {
  partition: string;
  id: string;
  seenAt: number;
}

/**
 * A store shared by several instances (Redis). It announces every revocation on a channel, so
 * each instance can keep verified sessions in memory, and takes touches in batches.
 */
export interface SharedSessionStore extends SessionStore {
  readonly shared: true;
  /** Delivers the ids of revoked sessions (from any instance), in publication order. */
  onRevoked(listener: (ids: string[]) => void): void;
  /** Revocations published in [since, upTo] (epoch ms) have all been delivered; since is Infinity while cut off. */
  readonly coverage: { since: number; upTo: number };
  /**
   * Records the touches in one round trip (a pipeline): `lastSeenAt` moves forward to `seenAt`
   * and the idle expiry slides, never past the absolute expiry. A session that is gone is not
   * recreated; the answer says, per touch, whether the session was still there.
   */
  touchMany(touches: SessionTouch[], idleMs: number): Promise<boolean[]>;
  /** Like `touch`, but writes nothing back (a dead session found is still removed). */
  peek(partition: string, id: string, now: number, idleMs: number): Promise<SessionRecord | null>;
  /** A cheap round trip with a deadline: resolves when the store answers. */
  probe(): Promise<void>;
  /** Connects the signal channel, waiting at most `waitMs`. */
  connect(waitMs?: number): Promise<void>;
  close(): Promise<void>;
}

export const isSharedSessionStore = (store: SessionStore): store is SharedSessionStore =>
  (store as Partial<SharedSessionStore>).shared === true;
