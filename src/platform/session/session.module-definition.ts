import { ConfigurableModuleBuilder } from '@nestjs/common';

export interface SessionModuleOptions {
  /** Key of the token MAC (≥ 32 characters): forged tokens are refused without a store lookup. Required. */
  secret: string;
  /** Sliding idle timeout. Default 30 min. */
  idleTimeoutMs?: number;
  /** Absolute lifetime, whatever the activity. Default 8 h. */
  absoluteTimeoutMs?: number;
  /** Cookie attributes for production: `Secure` and the `__Host-` prefix. Default false. */
  secureCookie?: boolean;
  /** Cookie name before any `__Host-` prefix. Default `bo_session`. */
  cookieName?: string;
  /** Bound of the in-memory store used when Redis is not configured. Default 10,000 sessions. */
  memoryMaxSessions?: number;
  /** Retry-After (seconds) on 503 while the session store is unreachable. Default 5. */
  retryAfterSeconds?: number;
  /**
   * Verified sessions each instance keeps in memory (Redis store only), so an authenticated
   * request needs no Redis round trip; revocations reach every instance over pub/sub. 0 turns
   * it off (one Redis round trip per request). Default 10,000.
   */
  l1MaxEntries?: number;
  /**
   * How long a session held in memory is trusted without proof that the revocation channel
   * still delivers (connection lost, not yet subscribed, heartbeat unanswered); after that it is
   * checked in Redis again. The bound on how late a revocation can be honoured. Default 1000 ms.
   */
  l1MaxStalenessMs?: number;
  /**
   * Write-behind interval of idle-timeout touches: at most one write per session per interval
   * and instance, and the idle timeout ends at most this much early. Never more than a quarter
   * of the idle timeout. Default 1000 ms.
   */
  touchIntervalMs?: number;
  /** While the store is refused (circuit open), how often a background PING checks it. Default 250 ms. */
  breakerProbeIntervalMs?: number;
}

export const { ConfigurableModuleClass: SessionConfigurableModule, MODULE_OPTIONS_TOKEN: SESSION_MODULE_OPTIONS } =
  new ConfigurableModuleBuilder<SessionModuleOptions>({ moduleName: 'Session' }).setClassMethodName('forRoot').build();
