import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  HttpStatus,
  Inject,
  Injectable,
  Logger,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants.js';
import { Reflector } from '@nestjs/core';
import { defer, type Observable } from 'rxjs';
import { lastValueFrom } from 'rxjs';
import { PrerenderedResponse, problemOf, renderProblem, type RenderedResponse } from '../http';
import { IDEMPOTENT, type IdempotentOptions } from './idempotency.decorators';
import {
  idempotencyKeyInUse,
  idempotencyKeyReused,
  idempotencyStoreUnavailable,
  invalidIdempotencyKey,
} from './idempotency.errors';
import { IDEMPOTENCY_SETTINGS } from './idempotency.tokens';
import type { IdempotencySettings, IdempotentRequest } from './idempotency.module-definition';
import { IDEMPOTENCY_STORE, type IdempotencyStore, type StoredResponse } from './idempotency.store';

interface Reply {
  header?(name: string, value: string): unknown;
  setHeader?(name: string, value: string): unknown;
  getHeader?(name: string): unknown;
}

interface Plan {
  options: IdempotentOptions;
  status: number;
}

const HEADER = 'idempotency-key';
// Printable ASCII only: no control characters (the draft's key is an sf-string).
const VALID_KEY = /^[\x20-\x7e]{1,255}$/;
const hash = (value: string) => createHash('sha256').update(value).digest('base64url');

/**
 * The interceptor behind `@Idempotent`. Per request: one claim (the key is free: run; in
 * progress: 409 or wait; another payload: 422; completed: replay) and, after the handler, one
 * completion that stores the response (a 5xx frees the key instead). The in-progress lease is
 * extended while the handler runs, so only a dead process lets it expire.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  private readonly logger = new Logger('Idempotency');
  private readonly plans = new WeakMap<object, Plan | null>();
  /** Owners are this process's random id and a counter (22 characters): unique, without a CSPRNG call per request. */
  private readonly instance = randomBytes(9).toString('base64url');
  private executions = 0;

  constructor(
    @Inject(IDEMPOTENCY_STORE) private readonly store: IdempotencyStore,
    @Inject(IDEMPOTENCY_SETTINGS) private readonly settings: IdempotencySettings,
    private readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const plan = this.planFor(context);
    if (!plan) return next.handle();
    const http = context.switchToHttp();
    const request = http.getRequest<IdempotentRequest>();
    const raw = this.keyOf(request, plan.options);
    if (raw === undefined) {
      if (plan.options.required ?? true) throw invalidIdempotencyKey(this.missing(plan.options));
      return next.handle();
    }
    if (!VALID_KEY.test(raw)) {
      throw invalidIdempotencyKey('The idempotency key must be 1-255 printable ASCII characters.');
    }
    const route = `${request.method} ${this.routeOf(request)}`;
    const scope = plan.options.scope === 'tenant' ? undefined : request.auth?.user.id;
    const key = hash(
      `${scope === undefined ? `t:${this.settings.tenantOf(request)}` : `u:${scope}`}\n${route}\n${raw}`,
    );
    const fingerprint = hash(
      JSON.stringify(
        plan.options.fingerprint
          ? plan.options.fingerprint(request)
          : [route, request.params ?? {}, canonical(request.body)],
      ),
    );
    request.idempotencyKey = key;
    return defer(() => this.run(key, fingerprint, plan, request, http.getResponse<Reply>(), next));
  }

  private async run(
    key: string,
    fingerprint: string,
    plan: Plan,
    request: IdempotentRequest,
    reply: Reply,
    next: CallHandler,
  ): Promise<unknown> {
    const owner = this.nextOwner();
    const deadline = Date.now() + (plan.options.wait ?? 0);
    for (let delay = 25; ; delay = Math.min(delay * 2, 250)) {
      const claim = await this.guarded(() => this.store.claim(key, owner, fingerprint, this.settings.leaseMs));
      if (claim.state === 'claimed') return this.execute(key, owner, fingerprint, plan, request, reply, next);
      if (claim.state === 'mismatch') throw idempotencyKeyReused();
      if (claim.state === 'completed') return this.replay(claim.response, plan, reply);
      const left = deadline - Date.now();
      if (left <= 0) throw idempotencyKeyInUse(claim.retryAfterMs);
      await sleep(Math.min(delay, left));
    }
  }

  private nextOwner(): string {
    return this.instance + (++this.executions).toString(36).padStart(10, '0');
  }

  private async execute(
    key: string,
    owner: string,
    fingerprint: string,
    plan: Plan,
    request: IdempotentRequest,
    reply: Reply,
    next: CallHandler,
  ): Promise<unknown> {
    const leaseMs = this.settings.leaseMs;
    const keeper = setInterval(() => {
      this.store.extend(key, owner, leaseMs).then(
        (held) =>
          held || this.logger.warn(`Lost the lease of an idempotency key while its handler ran (${request.id})`),
        () => undefined, // the next tick tries again; the completion says whether it was kept
      );
    }, leaseMs / 3);
    keeper.unref();
    let response: StoredResponse;
    try {
      const value: unknown = await lastValueFrom(next.handle(), { defaultValue: undefined });
      const body = typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);
      response = { status: plan.status, headers: this.headersOf(reply, value), body };
    } catch (error) {
      clearInterval(keeper);
      const rendered = renderProblem(problemOf(error), request);
      if (rendered.status >= 500 || isTransient(rendered.headers)) {
        // Not an answer to keep: a server error, or a "not now" (a busy lock, a rate limit, all
        // with Retry-After). The key is freed and the retry runs again.
        await this.store.release(key, owner).catch(() => undefined);
      } else {
        await this.finish(key, owner, fingerprint, rendered, plan, request);
      }
      // The filter renders the same problem from the same request: what was stored is what is sent.
      throw error;
    }
    clearInterval(keeper);
    await this.finish(key, owner, fingerprint, response, plan, request);
    for (const [name, value] of Object.entries(response.headers)) setHeader(reply, name, value);
    return response.body;
  }

  /** Stores the response. If that fails the handler has still run: its answer is sent, and the key stays claimed until its lease ends. */
  private async finish(
    key: string,
    owner: string,
    fingerprint: string,
    response: RenderedResponse,
    plan: Plan,
    request: IdempotentRequest,
  ): Promise<void> {
    const retention = plan.options.ttl ?? this.settings.retentionMs;
    try {
      const kept = await this.store.complete(key, owner, fingerprint, response, retention);
      if (!kept) this.logger.warn(`An idempotency key expired before its response was stored (${request.id})`);
    } catch (error) {
      this.logger.warn(`Could not store an idempotent response (${request.id}): ${(error as Error).message}`);
    }
  }

  private replay(response: StoredResponse, plan: Plan, reply: Reply): unknown {
    const headers = { ...response.headers, 'Idempotent-Replayed': 'true' };
    // Nest sets the route's status after interceptors; another status goes out through the filter.
    if (response.status !== plan.status) throw new PrerenderedResponse({ ...response, headers });
    for (const [name, value] of Object.entries(headers)) setHeader(reply, name, value);
    return response.body;
  }

  private headersOf(reply: Reply, value: unknown): Record<string, string> {
    const headers: Record<string, string> = {
      'Content-Type':
        String(reply.getHeader?.('content-type') ?? '') ||
        (typeof value === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8'),
    };
    for (const name of this.settings.replayHeaders) {
      const header = reply.getHeader?.(name);
      if (header !== undefined) headers[name] = String(header);
    }
    return headers;
  }

  private async guarded<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch {
      throw idempotencyStoreUnavailable(1000);
    }
  }

  private keyOf(request: IdempotentRequest, options: IdempotentOptions): string | undefined {
    if (options.keyField) {
      const body = request.body as Record<string, unknown> | undefined;
      const value = body && typeof body === 'object' ? body[options.keyField] : undefined;
      return value === undefined || value === null ? undefined : String(value);
    }
    const header = request.headers[HEADER];
    return Array.isArray(header) ? header.join(',') : header;
  }

  private missing(options: IdempotentOptions): string {
    return options.keyField
      ? `The request body needs a "${options.keyField}" field.`
      : 'This request needs an Idempotency-Key header.';
  }

  private routeOf(request: IdempotentRequest): string {
    return request.routeOptions?.url ?? request.route?.path ?? request.url.split('?', 1)[0]!;
  }

  private planFor(context: ExecutionContext): Plan | null {
    const handler = context.getHandler();
    let plan = this.plans.get(handler);
    if (plan === undefined) {
      const options = this.reflector.getAllAndOverride<IdempotentOptions | false | undefined>(IDEMPOTENT, [
        handler,
        context.getClass(),
      ]);
      const status =
        this.reflector.get<number | undefined>(HTTP_CODE_METADATA, handler) ??
        (context.switchToHttp().getRequest<IdempotentRequest>().method === 'POST' ? HttpStatus.CREATED : HttpStatus.OK);
      plan = options ? { options, status } : null;
      this.plans.set(handler, plan);
    }
    return plan;
  }
}

const isTransient = (headers: Record<string, string>) =>
  Object.keys(headers).some((name) => name.toLowerCase() === 'retry-after');

function setHeader(reply: Reply, name: string, value: string): void {
  if (typeof reply.header === 'function') reply.header(name, value);
  else reply.setHeader?.(name, value);
}

/** JSON with object keys sorted, so two bodies that differ only in key order have one fingerprint. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}
