import { Inject, Injectable, Logger } from '@nestjs/common';
import { SESSION_MODULE_OPTIONS, type SessionModuleOptions } from './session.module-definition';
import { sessionStoreUnavailable, unauthenticated } from './session.errors';
import { SessionTokens, type ParsedToken } from './session-token';
import { InjectSessionStore, type SessionRecord, type SessionStore } from './session.store';

export interface SessionUser {
  id: string;
  roles: string[];
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

/** Issues, checks and revokes sessions; the guard and the identity routes use it. */
@Injectable()
export class SessionService {
  private readonly logger = new Logger('Session');
  private readonly tokens: SessionTokens;
  readonly idleTimeoutMs: number;
  readonly absoluteTimeoutMs: number;
  /** The cookie's full name: `__Host-` prefixed when the cookie is `Secure`. */
  readonly cookieName: string;

  constructor(
    @Inject(SESSION_MODULE_OPTIONS) private readonly options: SessionModuleOptions,
    @InjectSessionStore() private readonly store: SessionStore,
  ) {
    this.tokens = new SessionTokens(options.secret);
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30 * 60_000;
    this.absoluteTimeoutMs = options.absoluteTimeoutMs ?? 8 * 3_600_000;
    const name = options.cookieName ?? 'bo_session';
    this.cookieName = options.secureCookie ? `__Host-${name}` : name;
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
    const parsed = this.parse(token);
    if (!parsed) throw unauthenticated('The session token is malformed or was not issued here.');
    const session = await this.guardStore(() => this.store.touch(parsed.partition, parsed.id, now, this.idleTimeoutMs));
    if (!session) throw unauthenticated('The session has expired or was revoked.');
    return session;
  }

  parse(token: string): ParsedToken | null {
    return this.tokens.parse(token);
  }

  /** Revokes the session of a token the client presented (at login: it is replaced, never promoted). */
  revokeToken(parsed: ParsedToken): Promise<boolean> {
    return this.guardStore(() => this.store.revoke(parsed.partition, parsed.id));
  }

  list(userId: string, now = Date.now()): Promise<SessionRecord[]> {
    return this.guardStore(() => this.store.list(SessionTokens.partitionOf(userId), now));
  }

  revoke(userId: string, sessionId: string): Promise<boolean> {
    return this.guardStore(() => this.store.revoke(SessionTokens.partitionOf(userId), sessionId));
  }

  /** Revokes every session of the user but `exceptId` (all of them without it). */
  revokeAll(userId: string, exceptId?: string): Promise<number> {
    return this.guardStore(() => this.store.revokeAll(SessionTokens.partitionOf(userId), exceptId));
  }

  private async guardStore<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      this.logger.warn(`Session store unavailable: ${error instanceof Error ? error.message : String(error)}`);
      throw sessionStoreUnavailable(this.options.retryAfterSeconds ?? 5);
    }
  }
}
