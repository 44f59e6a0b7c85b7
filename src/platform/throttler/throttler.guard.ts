import { Inject, Injectable, Optional, type ExecutionContext } from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  normalizeIp,
  ThrottlerGuard as NestThrottlerGuard,
  type ThrottlerModuleOptions as NestThrottlerModuleOptions,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import { MetricsService } from '../http';
import { ThrottleStoreUnavailableError } from './failover-throttle.store';
import { throttleStoreUnavailable, tooManyRequests } from './throttler.errors';
import { THROTTLE_FAILURES_ONLY } from './throttler.decorators';
import { ThrottlerMetrics } from './throttler.metrics';
import {
  THROTTLE_STORE,
  THROTTLER_SETTINGS,
  type ThrottledRequest,
  type ThrottlerSettings,
  type ThrottlerTier,
  type ThrottleTracker,
} from './throttler.options';
import { fromThrottlerStorage, type ThrottleRule, type ThrottleStore, type ThrottleVerdict } from './throttle.store';

// @nestjs/throttler's metadata keys (its constants are not exported from the package root).
const LIMIT = 'THROTTLER:LIMIT';
const TTL = 'THROTTLER:TTL';
const BLOCK = 'THROTTLER:BLOCK_DURATION';
const TRACKER = 'THROTTLER:TRACKER';
const KEY_GENERATOR = 'THROTTLER:KEY_GENERATOR';
const SKIP = 'THROTTLER:SKIP';

type Resolvable = number | ((context: ExecutionContext) => number | Promise<number>);
type Partition = (
  request: ThrottledRequest,
  context: ExecutionContext,
) => string | undefined | Promise<string | undefined>;
type Reply = {
  header?(name: string, value: string): unknown;
  setHeader?(name: string, value: string): unknown;
  raw?: RawReply;
} & RawReply;
type RawReply = { statusCode: number; once?(event: 'finish', listener: () => void): unknown };

/** One tier as it applies to one route, resolved once per route. */
interface TierPlan {
  name: string;
  /** Key space: the tier, or the tier and the route when the route sets its own limits. */
  scope: string;
  store: ThrottleStore;
  failClosed: boolean;
  lease?: boolean;
  partitions: Partition[];
  /** @Throttle's own getTracker / generateKey (may be async). */
  custom: boolean;
  /** Set when limit, ttl and block are plain numbers; otherwise resolved per request. */
  rule?: ThrottleRule;
  limit: Resolvable;
  ttl: Resolvable;
  blockDuration: Resolvable;
}

interface RoutePlan {
  /** Every rule static and every tracker synchronous: decided without awaiting anything it need not. */
  sync: boolean;
  anonymous: TierPlan[];
  authenticated: TierPlan[];
  failuresOnly: boolean;
  /** RateLimit-Policy field values, when every tier's rule is static. */
  anonymousPolicy?: string;
  authenticatedPolicy?: string;
}

interface PendingCheck {
  tier: TierPlan;
  rule: ThrottleRule;
  id: string;
  verdict: ThrottleVerdict | Promise<ThrottleVerdict>;
}

interface Check extends PendingCheck {
  verdict: ThrottleVerdict;
}

const sfSeconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));
const policyItem = (name: string, rule: ThrottleRule) => `"${name}";q=${rule.limit};w=${sfSeconds(rule.windowMs)}`;

/**
 * The global rate-limit guard. It keeps @nestjs/throttler's model (named throttlers, `@Throttle`
 * to override a tier's limit on a route, `@SkipThrottle`, subclassing) with these differences:
 * - tiers apply by `appliesTo` (anonymous / authenticated requests), or where a route names them
 *   in `@Throttle({ tier: {...} })`; `@SkipThrottle()` skips every tier;
 * - a tier counts per tracker partition (IP, user, tenant, a body field); a hit passes only if
 *   every partition of every tier lets it, and a refused request gives its other hits back;
 * - every throttled response carries the IETF draft `RateLimit-Policy` and `RateLimit` fields;
 *   a 429 adds `Retry-After` and a problem+json body;
 * - `@ThrottleFailuresOnly()` gives the hits of a successful (< 400) response back (logins).
 * It must run after the session guard (register ThrottlerModule after SessionModule), so `user`
 * trackers see who is calling.
 */
@Injectable()
export class ThrottlerGuard extends NestThrottlerGuard {
  private readonly plans = new WeakMap<object, WeakMap<object, RoutePlan>>();
  private readonly stores = new Map<string, ThrottleStore>();
  private readonly tierMetrics: ThrottlerMetrics;

  constructor(
    @InjectThrottlerOptions() options: NestThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    @Inject(THROTTLER_SETTINGS) private readonly settings: ThrottlerSettings,
    @Inject(THROTTLE_STORE) private readonly store: ThrottleStore,
    private readonly moduleRef: ModuleRef,
    @Optional() metrics?: ThrottlerMetrics,
    @Optional() metricsService?: MetricsService,
  ) {
    super(options, storage, reflector);
    this.tierMetrics = metrics ?? new ThrottlerMetrics(metricsService?.registry);
  }

  override async onModuleInit(): Promise<void> {
    await super.onModuleInit();
    for (const tier of this.settings.tiers) {
      if (!tier.storage) continue;
      const provided = this.moduleRef.get<ThrottleStore | ThrottlerStorage>(tier.storage, { strict: false });
      this.stores.set(tier.name, 'consume' in provided ? provided : fromThrottlerStorage(provided, tier.name));
    }
  }

  // Nest takes a boolean or a promise from any guard (CanActivate); the base class only
  // declares the promise, so a synchronous answer is typed as one.
  override canActivate(context: ExecutionContext): Promise<boolean> {
    return this.check(context) as Promise<boolean>;
  }

  private check(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const plan = this.planFor(context);
    const request = context.switchToHttp().getRequest<ThrottledRequest>();
    const authenticated = request.auth !== undefined;
    const tiers = authenticated ? plan.authenticated : plan.anonymous;
    if (tiers.length === 0) return true;
    if (!plan.sync)
      return this.collectAsync(context, tiers, request).then((checks) =>
        this.decide(context, plan, tiers, checks, authenticated),
      );

    // Static rules and built-in trackers: every hit is asked for at once (the Redis calls travel
    // together), and when every store answers synchronously (in process, or a key refused
    // locally) the whole decision is synchronous too: a flood of refusals stays cheap.
    const pending: PendingCheck[] = [];
    let waiting = false;
    try {
      for (const tier of tiers) {
        for (const partition of tier.partitions) {
          const value = partition(request, context) as string | undefined;
          if (value === undefined) continue;
          const check = this.consume(tier, tier.rule!, value);
          waiting ||= check.verdict instanceof Promise;
          pending.push(check);
        }
      }
    } catch (error) {
      return this.fail(pending, error);
    }
    if (!waiting) return this.decide(context, plan, tiers, pending as Check[], authenticated);
    return this.settle(pending).then((checks) => this.decide(context, plan, tiers, checks, authenticated));
  }

  private consume(tier: TierPlan, rule: ThrottleRule, partition: string): PendingCheck {
    const id = `${tier.scope}\n${partition}`;
    return {
      tier,
      rule,
      id,
      verdict: tier.store.consume(id, tier.failClosed ? { ...rule, failClosed: true } : rule, tier.name),
    };
  }

  /** Dynamic limits or @Throttle's own getTracker / generateKey: resolved per request, possibly async. */
  private async collectAsync(
    context: ExecutionContext,
    tiers: TierPlan[],
    request: ThrottledRequest,
  ): Promise<Check[]> {
    const pending: PendingCheck[] = [];
    try {
      for (const tier of tiers) {
        const rule = tier.rule ?? (await this.resolveRule(context, tier));
        for (const partition of tier.partitions) {
          const value = await partition(request, context);
          if (value !== undefined) pending.push(this.consume(tier, rule, value));
        }
      }
    } catch (error) {
      return this.fail(pending, error);
    }
    return this.settle(pending);
  }

  /** Waits for every verdict; if one store failed, gives the others' hits back and fails. */
  private async settle(pending: PendingCheck[]): Promise<Check[]> {
    if (pending.length === 1) {
      const [only] = pending as [PendingCheck];
      try {
        return [{ ...only, verdict: await only.verdict }];
      } catch (error) {
        return this.fail(pending, error);
      }
    }
    const results = await Promise.allSettled(pending.map((check) => check.verdict));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) return this.fail(pending, failed.reason);
    return pending.map((check, i) => ({
      ...check,
      verdict: (results[i] as PromiseFulfilledResult<ThrottleVerdict>).value,
    }));
  }

  private fail(pending: PendingCheck[], error: unknown): never {
    this.giveBack(pending);
    if (error instanceof ThrottleStoreUnavailableError) throw throttleStoreUnavailable(error.retryAfterMs);
    throw error;
  }

  private decide(
    context: ExecutionContext,
    plan: RoutePlan,
    tiers: TierPlan[],
    checks: Check[],
    authenticated: boolean,
  ): boolean {
    const policy = (authenticated ? plan.authenticatedPolicy : plan.anonymousPolicy) ?? this.policyOf(checks);
    const current = this.currentOf(tiers, checks);
    let refused: Check[] | undefined;
    for (const check of checks) if (!check.verdict.allowed) (refused ??= []).push(check);
    if (refused) {
      this.giveBack(checks);
      const violated: string[] = [];
      let retryAfterMs = 0;
      for (const { tier, verdict } of refused) {
        if (!violated.includes(tier.name)) violated.push(tier.name);
        retryAfterMs = Math.max(retryAfterMs, verdict.retryAfterMs);
      }
      for (const name of violated) this.tierMetrics.refused(name);
      return this.refuse(context, retryAfterMs, violated, { 'RateLimit-Policy': policy, RateLimit: current });
    }
    const response = context.switchToHttp().getResponse<Reply>();
    this.setResponseHeader(response, 'RateLimit-Policy', policy);
    this.setResponseHeader(response, 'RateLimit', current);
    if (plan.failuresOnly) this.giveBackOnSuccess(response, checks);
    return true;
  }

  /** Throws the 429. Override to answer differently; the headers are the RateLimit fields. */
  protected refuse(
    _context: ExecutionContext,
    retryAfterMs: number,
    violated: string[],
    headers: Record<string, string>,
  ): never {
    throw tooManyRequests(retryAfterMs, violated, headers);
  }

  override setResponseHeader(response: Reply, name: string, value: string | number): void {
    if (typeof response.header === 'function') response.header(name, String(value));
    else response.setHeader?.(name, String(value));
  }

  /** Per tier, the partition with the least left: `"api";r=299;t=60`. */
  private currentOf(tiers: TierPlan[], checks: Check[]): string {
    const items: string[] = [];
    for (const tier of tiers) {
      let remaining = Infinity;
      let resetMs = 0;
      for (const check of checks) {
        if (check.tier !== tier) continue;
        const { verdict } = check;
        const left = verdict.allowed ? Math.max(0, check.rule.limit - verdict.hits) : 0;
        const reset = verdict.allowed ? verdict.resetMs : verdict.retryAfterMs;
        if (left < remaining || (left === remaining && reset > resetMs)) {
          remaining = left;
          resetMs = reset;
        }
      }
      if (remaining !== Infinity) items.push(`"${tier.name}";r=${remaining};t=${sfSeconds(resetMs)}`);
    }
    return items.join(', ');
  }

  private policyOf(checks: Check[]): string {
    const items = new Map<string, string>();
    for (const check of checks) items.set(check.tier.name, policyItem(check.tier.name, check.rule));
    return [...items.values()].join(', ');
  }

  private giveBack(checks: PendingCheck[]): void {
    for (const { tier, id, verdict } of checks) {
      const release = (v: ThrottleVerdict) => (v.hit === undefined ? undefined : tier.store.release(id, v.hit));
      if (!(verdict instanceof Promise) && verdict.hit === undefined) continue; // a refused hit: nothing to give back
      void Promise.resolve(verdict)
        .then(release)
        .catch(() => undefined);
    }
  }

  private giveBackOnSuccess(response: Reply, checks: Check[]): void {
    const raw = response.raw ?? response;
    raw.once?.('finish', () => {
      if (raw.statusCode < 400) this.giveBack(checks);
    });
  }

  private async resolveRule(context: ExecutionContext, tier: TierPlan): Promise<ThrottleRule> {
    const value = async (v: Resolvable) => (typeof v === 'function' ? v(context) : v);
    return {
      limit: await value(tier.limit),
      windowMs: await value(tier.ttl),
      blockMs: await value(tier.blockDuration),
      lease: tier.lease,
    };
  }

  private planFor(context: ExecutionContext): RoutePlan {
    const classRef = context.getClass();
    const handler = context.getHandler();
    let byHandler = this.plans.get(classRef);
    if (!byHandler) this.plans.set(classRef, (byHandler = new WeakMap()));
    let plan = byHandler.get(handler);
    if (!plan) byHandler.set(handler, (plan = this.buildPlan(classRef, handler)));
    return plan;
  }

  private buildPlan(classRef: object, handler: object): RoutePlan {
    const targets = [handler, classRef] as [() => unknown, () => unknown];
    const meta = <T>(key: string) => this.reflector.getAllAndOverride<T | undefined>(key, targets);
    const named = (name: string) =>
      Reflect.hasMetadata(LIMIT + name, handler) || Reflect.hasMetadata(LIMIT + name, classRef);
    const skipAll = meta<boolean>(SKIP + 'default') === true;
    const applicable = this.settings.tiers.filter((tier) => !skipAll && meta<boolean>(SKIP + tier.name) !== true);
    const chosen = applicable.filter((tier) => named(tier.name));
    const build = (tier: ThrottlerTier): TierPlan => {
      const limit = meta<Resolvable>(LIMIT + tier.name);
      const ttl = meta<Resolvable>(TTL + tier.name);
      const blockDuration = meta<Resolvable>(BLOCK + tier.name);
      const own = limit !== undefined || ttl !== undefined || blockDuration !== undefined;
      const plan: TierPlan = {
        name: tier.name,
        scope: own
          ? `${tier.name}@${(classRef as { name: string }).name}.${(handler as { name: string }).name}`
          : tier.name,
        store: this.stores.get(tier.name) ?? this.store,
        failClosed: tier.failClosed ?? false,
        lease: tier.lease,
        partitions: this.partitionsOf(tier, meta),
        custom: meta(TRACKER + tier.name) !== undefined || meta(KEY_GENERATOR + tier.name) !== undefined,
        limit: limit ?? tier.limit,
        ttl: ttl ?? tier.ttl,
        blockDuration: blockDuration ?? tier.blockDuration ?? 0,
      };
      if (typeof plan.limit === 'number' && typeof plan.ttl === 'number' && typeof plan.blockDuration === 'number') {
        plan.rule = { limit: plan.limit, windowMs: plan.ttl, blockMs: plan.blockDuration, lease: tier.lease };
      }
      return plan;
    };
    const pick = (kind: 'anonymous' | 'authenticated') =>
      (chosen.length > 0 ? chosen : applicable.filter((t) => t.appliesTo === kind || t.appliesTo === 'all')).map(build);
    const anonymous = pick('anonymous');
    const authenticated = pick('authenticated');
    const staticPolicy = (plans: TierPlan[]) =>
      plans.every((p) => p.rule) ? plans.map((p) => policyItem(p.name, p.rule!)).join(', ') : undefined;
    return {
      sync: [...anonymous, ...authenticated].every((p) => p.rule && !p.custom),
      anonymous,
      authenticated,
      failuresOnly: meta<boolean>(THROTTLE_FAILURES_ONLY) === true,
      anonymousPolicy: staticPolicy(anonymous),
      authenticatedPolicy: staticPolicy(authenticated),
    };
  }

  private partitionsOf(tier: ThrottlerTier, meta: <T>(key: string) => T | undefined): Partition[] {
    // @Throttle's getTracker / generateKey replace the tier's trackers on that route.
    type NestTracker = (request: unknown, context: ExecutionContext) => string | Promise<string>;
    type NestKey = (context: ExecutionContext, tracker: string, name: string) => string;
    const getTracker = meta<NestTracker>(TRACKER + tier.name);
    const generateKey = meta<NestKey>(KEY_GENERATOR + tier.name);
    if (getTracker || generateKey) {
      const track: NestTracker = getTracker ?? ((request) => this.ipOf(request as ThrottledRequest));
      return [
        async (request, context) => {
          const tracker = await track(request, context);
          return generateKey ? generateKey(context, tracker, tier.name) : `custom:${tracker}`;
        },
      ];
    }
    return (tier.trackers ?? ['ip']).map((tracker) => this.partitionOf(tracker));
  }

  private partitionOf(tracker: ThrottleTracker): Partition {
    const ip = (request: ThrottledRequest) => `ip:${this.ipOf(request)}`;
    const user = (request: ThrottledRequest) => {
      const id = request.auth?.user.id;
      return id === undefined ? ip(request) : `user:${id}`;
    };
    switch (tracker) {
      case 'ip':
        return ip;
      case 'user':
        return user;
      case 'tenant':
        return (request) => {
          const tenant = this.settings.tenantOf?.(request);
          return tenant === undefined ? user(request) : `tenant:${tenant}`;
        };
      default:
        return tracker;
    }
  }

  private ipOf(request: ThrottledRequest): string {
    return request.ip ? normalizeIp(request.ip, this.settings.ipv6SubnetPrefix) : 'unknown';
  }
}
