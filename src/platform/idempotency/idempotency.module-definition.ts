import { ConfigurableModuleBuilder } from '@nestjs/common';

/** The request as the idempotency interceptor sees it. */
export interface IdempotentRequest {
  method: string;
  url: string;
  id?: string;
  headers: Record<string, string | string[] | undefined>;
  params?: Record<string, string>;
  body?: unknown;
  routeOptions?: { url?: string };
  route?: { path?: string };
  auth?: { user: { id: string } };
  /** Set by the interceptor: the scoped, hashed key of this execution (for a unique column, a log line). */
  idempotencyKey?: string;
}

export interface IdempotencyModuleOptions {
  /** How long a completed response is replayed, in ms (a route's `ttl` overrides it). Default 24 h. */
  retentionMs?: number;
  /** In-progress lease in ms, extended while the handler runs; a crashed request frees its key after it. Default 10 s. */
  leaseMs?: number;
  /** Timeout of each idempotency command on Redis; past it the request answers 503 (fail closed). Default 1000 ms. */
  commandTimeoutMs?: number;
  /** Keys held by the in-process store (Redis not configured). Default 10,000. */
  memoryMaxKeys?: number;
  /** Bytes of responses held by the in-process store. Default 64 MiB. */
  memoryMaxBytes?: number;
  /** The key space of anonymous callers (one tenant per deployment by default). Default `() => 'anonymous'`. */
  tenantOf?: (request: IdempotentRequest) => string;
  /** Response headers kept and replayed besides Content-Type. Default `['location']`. */
  replayHeaders?: string[];
}

export const {
  ConfigurableModuleClass: IdempotencyConfigurableModule,
  MODULE_OPTIONS_TOKEN: IDEMPOTENCY_MODULE_OPTIONS,
} = new ConfigurableModuleBuilder<IdempotencyModuleOptions>({ moduleName: 'Idempotency' })
  .setClassMethodName('forRoot')
  .build();

export const IDEMPOTENCY_DEFAULTS = {
  retentionMs: 86_400_000,
  leaseMs: 10_000,
  commandTimeoutMs: 1000,
  memoryMaxKeys: 10_000,
  memoryMaxBytes: 64 * 1024 * 1024,
  tenantOf: () => 'anonymous',
  replayHeaders: ['location'],
} satisfies Required<IdempotencyModuleOptions>;

export type IdempotencySettings = Required<IdempotencyModuleOptions>;
