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
}

export const { ConfigurableModuleClass: SessionConfigurableModule, MODULE_OPTIONS_TOKEN: SESSION_MODULE_OPTIONS } =
  new ConfigurableModuleBuilder<SessionModuleOptions>({ moduleName: 'Session' }).setClassMethodName('forRoot').build();
