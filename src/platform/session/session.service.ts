import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type BeforeApplicationShutdown,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
// The metrics service directly, not the http barrel: http's metrics route imports @Public from here.
import { MetricsService } from '../http/metrics.service';
import { RedisBreaker, RedisBreakerOpenError, RedisService } from '../redis';
import { SESSION_MODULE_OPTIONS, type SessionModuleOptions } from './session.module-definition';
import { sessionStoreUnavailable, unauthenticated } from './session.errors';
import { SessionL1, type L1Entry } from './session-l1';
import { SessionMetrics } from './session.metrics';
import { MAX_TOKEN_LENGTH, SessionTokens, type ParsedToken } from './session-token';
import { SessionTouches } from './session-touches';
import {
  InjectSessionStore,
  isSharedSessionStore,
  type SessionRecord,
  type SessionStore,
  type SharedSessionStore,
} from './session.store';

export interface SessionUser {
  id: string;
  roles: string[];
  /** The email the session was issued with; null (or absent) when it was not given. */
  email?: string | null;
}

export interface SessionMeta {
  userAgent: string | null;
  ip: string | null;
}

export interface Credential {
  token: string;
  via: 'cookie' | 'bearer';
}

interface HeaderBag {
  headers: Record<string, string | string[] | undefined>;
}

/** A live session and its user, as the guard attaches them to a request. */
export type Authenticated = Pick<L1Entry, 'session' | 'user'>;

const userOf = (session: SessionRecord): SessionUser => ({
  id: session.userId,
  roles: session.roles,
  email: session.email,
});

/**
 * Issues, checks and revokes sessions; the guard and the identity routes use it.
 *
 * With a shared (Redis) store, verified sessions are kept in memory (`SessionL1`): a request whose
 * session is held there costs no round trip, its idle-timeout touch is written behind in a batch,
 * and revocations announced by the store drop it on every instance. Store calls go through a
 * breaker: after the first failures the store is refused at once (503) until a PING answers.
 */
@Injectable()
export class SessionService implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Session');
  private readonly tokens: SessionTokens;
  private readonly shared: SharedSessionStore | null;
  private readonly l1: SessionL1 | null;
  private readonly touches: SessionTouches | null;
  private readonly breaker: RedisBreaker;
  private readonly metrics: SessionMetrics;
  private readonly retryAfterSeconds: number;
  readonly idleTimeoutMs: number;
  readonly absoluteTimeoutMs: number;
  /** The cookie's full name: `__Host-` prefixed when the cookie is `Secure`. */
  readonly cookieName: string;

  constructor(
    @Inject(SESSION_MODULE_OPTIONS) private readonly options: SessionModuleOptions,
    @InjectSessionStore() private readonly store: SessionStore,
    @Optional() metrics?: MetricsService,
    @Optional() redis?: RedisService,
  ) {
    this.tokens = new SessionTokens(options.secret);
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30 * 60_000;
    this.absoluteTimeoutMs = options.absoluteTimeoutMs ?? 8 * 3_600_000;
    this.retryAfterSeconds = options.retryAfterSeconds ?? 5;
    const name = options.cookieName ?? 'bo_session';
    this.cookieName = options.secureCookie ? `__Host-${name}` : name;

    this.shared = isSharedSessionStore(store) ? store : null;
    const l1Max = options.l1MaxEntries ?? 10_000;
    const shared = this.shared;
    this.l1 =
      shared && l1Max > 0 ? new SessionL1(l1Max, options.l1MaxStalenessMs ?? 1000, () => shared.coverage) : null;
    this.touches =
      shared && this.l1
        ? new SessionTouches(SessionService.touchIntervalOf(options, this.idleTimeoutMs), (batch) =>
            this.writeTouches(batch),
          )
        : null;
    this.metrics = new SessionMetrics(metrics?.registry, () => this.l1?.size ?? 0);
    this.breaker = new RedisBreaker({
      name: 'session store',
      logger: this.logger,
      probe: () => shared?.probe() ?? Promise.resolve(),
      probeIntervalMs: options.breakerProbeIntervalMs ?? 250,
      onFailure: () => this.metrics.failure(),
      onStateChange: (open) => this.metrics.breakerOpen(open),
    });
    shared?.onRevoked((ids) => {
      this.l1?.delete(ids);
      this.metrics.revoked(ids.length);
    });
    redis?.on('state', (state) => state === 'ready' && this.breaker.probeSoon());
  }

  /** The write-behind interval: as configured, never more than a quarter of the idle timeout. */
  static touchIntervalOf(options: SessionModuleOptions, idleTimeoutMs: number): number {
    return Math.max(1, Math.min(options.touchIntervalMs ?? 1000, Math.floor(idleTimeoutMs / 4)));
  }

  async onModuleInit(): Promise<void> {
    await this.shared?.connect();
  }

  /** Pending touches are written while Redis is still open. */
  async beforeApplicationShutdown(): Promise<void> {
    this.touches?.stop();
    await this.touches?.flush();
  }

  async onApplicationShutdown(): Promise<void> {
    this.touches?.stop();
    this.breaker.stop();
    await this.shared?.close();
  }

  /** True while the store is refused at once (circuit open). */
  get storeRefused(): boolean {
    return this.breaker.isOpen;
  }

  /** Cookie attributes (OWASP): HttpOnly, SameSite=Lax, Path=/, and Secure with `__Host-` in production. */
  get cookieOptions() {
    return {
      httpOnly: true,
      sameSite: 'lax' as const,
      secure: this.options.secureCookie ?? false,
      path: '/',
      maxAge: Math.floor(this.absoluteTimeoutMs / 1000),
    };
  }

  /** The credential of a request: `Authorization: Bearer` wins over the cookie. */
  readCredential(request: HeaderBag): Credential | null {
    const authorization = request.headers.authorization;
    if (typeof authorization === 'string' && /^bearer /i.test(authorization)) {
      return { token: authorization.slice(7).trim(), via: 'bearer' };
    }
    const cookie = request.headers.cookie;
    if (typeof cookie !== 'string') return null;
    for (const part of cookie.split(';')) {
      const at = part.indexOf('=');
      if (at > 0 && part.slice(0, at).trim() === this.cookieName)
        return { token: part.slice(at + 1).trim(), via: 'cookie' };
    }
    return null;
  }

  /** A new session under a new token: login never reuses or promotes a token the client sent. */
  async issue(
    user: SessionUser,
    meta: SessionMeta,
    now = Date.now(),
  ): Promise<{ token: string; session: SessionRecord }> {
    const { token, partition, id } = this.tokens.issue(user.id);
    const session: SessionRecord = {
      id,
      partition,
      userId: user.id,
      email: user.email ?? null,
      roles: [...user.roles],
      createdAt: now,
      lastSeenAt: now,
      absoluteExpiresAt: now + this.absoluteTimeoutMs,
      userAgent: meta.userAgent?.slice(0, 256) ?? null,
      ip: meta.ip,
    };
    await this.guardStore(() => this.store.create(session, this.idleTimeoutMs));
    return { token, session };
  }

  /**
   * The live session of a token, its idle expiry slid forward. Malformed, forged or oversized
   * tokens are refused (401) without touching the store; an unreachable store is a 503.
   */
  async authenticate(token: string, now = Date.now()): Promise<SessionRecord> {
    return (await this.authenticateToken(token, now)).session;
  }

  /** Like `authenticate`, with the session's user (the same object for every request of a held session). */
  async authenticateToken(token: string, now = Date.now()): Promise<Authenticated> {
    if (this.l1 && token.length === MAX_TOKEN_LENGTH) {
      // A held session is found by the token's hash before any MAC check: a hash that matches a
      // verified session's id can only come from its token, and the MAC costs more than the lookup.
      const held = this.l1.trusted(SessionTokens.idOf(token), now);
      if (held && this.aliveLocally(held.session, now)) {
        if (now > held.session.lastSeenAt) held.session.lastSeenAt = now;
        this.touches!.add(held.session.partition, held.session.id, now);
        return held;
      }
    }
    const parsed = this.parse(token);
    if (!parsed) throw unauthenticated('The session token is malformed or was not issued here.');
    if (!this.l1) {
      const session = await this.guardStore(() =>
        this.store.touch(parsed.partition, parsed.id, now, this.idleTimeoutMs),
      );
      if (!session) throw unauthenticated('The session has expired or was revoked.');
      return { session, user: userOf(session) };
    }
    return this.verify(parsed, now);
  }

  parse(token: string): ParsedToken | null {
    return this.tokens.parse(token);
  }

  /** Revokes the session of a token the client presented (at login: it is replaced, never promoted). */
  revokeToken(parsed: ParsedToken): Promise<boolean> {
    return this.revokeIn(parsed.partition, parsed.id);
  }

  list(userId: string, now = Date.now()): Promise<SessionRecord[]> {
    return this.guardStore(() => this.store.list(SessionTokens.partitionOf(userId), now));
  }

  revoke(userId: string, sessionId: string): Promise<boolean> {
    return this.revokeIn(SessionTokens.partitionOf(userId), sessionId);
  }

  /**
   * Revokes every session of the user but `exceptId` (all of them without it): after a role or
   * password change, so no instance keeps trusting what the old sessions say.
   */
  async revokeAll(userId: string, exceptId?: string): Promise<number> {
    const partition = SessionTokens.partitionOf(userId);
    const removed = await this.guardStore(() => this.store.revokeAll(partition, exceptId));
    this.l1?.deletePartition(partition, exceptId);
    return removed;
  }

  private async revokeIn(partition: string, id: string): Promise<boolean> {
    const removed = await this.guardStore(() => this.store.revoke(partition, id));
    // Here at once; other instances when the store's announcement reaches them.
    this.l1?.delete([id]);
    this.touches?.forget(id);
    return removed;
  }

  /** Idle and absolute expiry, judged from what this instance saw; a session it judges dead is checked in the store. */
  private aliveLocally(session: SessionRecord, now: number): boolean {
    return now <= session.absoluteExpiresAt && now <= session.lastSeenAt + this.idleTimeoutMs;
  }

  /** Reads the session in the store (no write: the use is touched behind) and holds it. */
  private async verify(parsed: ParsedToken, now: number): Promise<Authenticated> {
    const l1 = this.l1!;
    const revocations = l1.revocations;
    const verifiedAt = Date.now();
    const session = await this.guardStore(() =>
      this.shared!.peek(parsed.partition, parsed.id, now, this.idleTimeoutMs),
    );
    if (!session) {
      l1.delete([parsed.id]);
      this.touches!.forget(parsed.id);
      throw unauthenticated('The session has expired or was revoked.');
    }
    // A use seen here and not yet written behind still counts.
    const before = l1.peek(parsed.id)?.session.lastSeenAt ?? 0;
    session.lastSeenAt = Math.max(session.lastSeenAt, before, now);
    const entry: L1Entry = { session, user: userOf(session), verifiedAt };
    l1.set(entry, revocations);
    this.touches!.add(parsed.partition, parsed.id, now);
    return entry;
  }

  private async writeTouches(batch: { partition: string; id: string; seenAt: number }[]): Promise<void> {
    const found = await this.breaker.run(() => this.shared!.touchMany(batch, this.idleTimeoutMs));
    const gone = batch.filter((_, i) => !found[i]).map((touch) => touch.id);
    if (gone.length) this.l1?.delete(gone);
  }

  /** Fail closed: any store failure is a 503; the breaker logs once per outage, not once per request. */
  private async guardStore<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await this.breaker.run(operation);
    } catch (error) {
      if (error instanceof RedisBreakerOpenError) this.metrics.refusal();
      throw sessionStoreUnavailable(this.retryAfterSeconds);
    }
  }
}
