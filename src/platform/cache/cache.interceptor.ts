import { HttpStatus, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants.js';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { from, lastValueFrom, map, mergeMap, of, type Observable } from 'rxjs';
import { CACHED, INVALIDATES_CACHE, type CachedOptions, type InvalidatesCacheOptions } from './cache.metadata';
import { CacheService, type CacheOptions, type CacheOutcome } from './cache.service';
import { HTTP_ENTRY_CODEC, httpEntryOf, type HttpEntry } from './http-entry.codec';

/** What the interceptor reads from a Fastify or Express request. */
export interface CacheableRequest {
  method: string;
  url: string;
  params?: Record<string, string>;
  query?: Record<string, unknown>;
  routeOptions?: { url?: string };
  route?: { path?: string };
  auth?: { user?: { id?: string } };
  user?: { id?: unknown };
}

type CachedPlan = CachedOptions & { status: number; names: Map<string, string> };

interface Plan {
  cached?: CachedPlan;
  invalidates?: InvalidatesCacheOptions;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const TEMPLATE = /\{(\w+)\}/g;

/**
 * The one interceptor behind `@Cached` and `@InvalidatesCache`. Keys are the route pattern, its
 * parameters, the normalised query and, for any authenticated request, the caller; the service
 * hashes them. Invalidation happens after the handler succeeded and before the response leaves,
 * so a client never reads data older than its own successful write.
 */
@Injectable()
export class CacheInterceptor implements NestInterceptor {
  private readonly plans = new WeakMap<object, Plan>();

  constructor(
    private readonly cache: CacheService,
    private readonly reflector: Reflector,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const plan = this.planFor(context);
    const request = context.switchToHttp().getRequest<CacheableRequest>();
    const method = request.method;
    if (plan.invalidates && UNSAFE.has(method)) {
      const tags = fillTemplates(plan.invalidates.tags, request.params);
      return next.handle().pipe(
        mergeMap(async (value: unknown) => {
          await this.cache.invalidateTags(tags);
          return value;
        }),
      );
    }
    if (!plan.cached || (method !== 'GET' && method !== 'HEAD')) return next.handle();
    return this.serve(plan.cached, request, context.switchToHttp().getResponse(), next);
  }

  /** The caller a response is keyed on: the session's user, or a Passport-style `request.user`. */
  protected callerOf(request: CacheableRequest): string | undefined {
    const id = request.auth?.user?.id ?? request.user?.id;
    return id === undefined || id === null ? undefined : String(id);
  }

  /** The route pattern (`/events/:id`), so every URL of one route shares a metric label and a key space. */
  protected routeOf(request: CacheableRequest): string {
    return request.routeOptions?.url ?? request.route?.path ?? request.url.split('?', 1)[0]!;
  }

  private serve(
    cached: CachedPlan,
    request: CacheableRequest,
    response: unknown,
    next: CallHandler,
  ): Observable<unknown> {
    const caller = this.callerOf(request);
    const scope = caller === undefined ? (cached.scope ?? 'public') : 'user';
    if (scope === 'user' && caller === undefined) {
      this.adapterHost.httpAdapter.setHeader(response, 'Cache-Control', 'private, no-store');
      return next.handle(); // per-user cache and no user: nothing safe to key on
    }
    const route = this.routeOf(request);
    const key = `http\n${route}\n${caller ?? ''}\n${stableParams(request.params)}\n${stableQuery(request.query)}`;
    const name = this.metricName(cached, route);
    // The hit path builds nothing else: tags and options are only needed to load.
    const hit = this.cache.peek<HttpEntry>(key, name);
    if (hit) return of(this.send(response, hit, 'HIT', scope, cached.maxAge));
    const options: CacheOptions<HttpEntry> = {
      ttl: cached.ttl,
      tags: cached.tags && fillTemplates(cached.tags, request.params),
      staleWhileRevalidate: cached.staleWhileRevalidate,
      codec: HTTP_ENTRY_CODEC,
      name,
    };
    const loader = async () =>
      httpEntryOf(await lastValueFrom(next.handle(), { defaultValue: undefined }), cached.status);
    return from(this.cache.fetch(key, loader, options)).pipe(
      map((result) => this.send(response, result.value, result.outcome, scope, cached.maxAge)),
    );
  }

  /** `GET <route pattern>`, kept per route: the metric label of every lookup. */
  private metricName(cached: CachedPlan, route: string): string {
    let name = cached.names.get(route);
    if (name === undefined) cached.names.set(route, (name = `GET ${route}`));
    return name;
  }

  private send(response: unknown, entry: HttpEntry, outcome: CacheOutcome, scope: string, maxAge = 0): string {
    const adapter = this.adapterHost.httpAdapter;
    adapter.setHeader(response, 'Content-Type', entry.type);
    adapter.setHeader(response, 'ETag', entry.etag);
    adapter.setHeader(response, 'X-Cache', outcome);
    const freshness = maxAge > 0 ? `max-age=${maxAge}` : 'no-cache';
    adapter.setHeader(response, 'Cache-Control', `${scope === 'user' ? 'private' : 'public'}, ${freshness}`);
    if (scope === 'user') adapter.setHeader(response, 'Vary', 'Authorization, Cookie');
    return entry.body;
  }

  private planFor(context: ExecutionContext): Plan {
    const handler = context.getHandler();
    let plan = this.plans.get(handler);
    if (!plan) {
      const targets = [handler, context.getClass()];
      const cached = this.reflector.getAllAndOverride<CachedOptions | false | undefined>(CACHED, targets);
      const status = this.reflector.get<number | undefined>(HTTP_CODE_METADATA, handler) ?? HttpStatus.OK;
      plan = {
        cached: cached ? { ...cached, status, names: new Map() } : undefined,
        invalidates: this.reflector.getAllAndOverride<InvalidatesCacheOptions | undefined>(INVALIDATES_CACHE, targets),
      };
      this.plans.set(handler, plan);
    }
    return plan;
  }
}

function fillTemplates(templates: string[], params: Record<string, string> = {}): string[] {
  return templates.map((template) =>
    template.includes('{') ? template.replace(TEMPLATE, (whole, name: string) => params[name] ?? whole) : template,
  );
}

function stableParams(params: Record<string, string> | undefined): string {
  return params ? JSON.stringify(params) : '';
}

/** Query keys sorted, so `?a=1&b=2` and `?b=2&a=1` share an entry; repeated values keep their order. */
function stableQuery(query: Record<string, unknown> | undefined): string {
  if (!query) return '';
  const keys = Object.keys(query);
  if (!keys.length) return '';
  keys.sort();
  return JSON.stringify(keys.map((k) => [k, query[k]]));
}
