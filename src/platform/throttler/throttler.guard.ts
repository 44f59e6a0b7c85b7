import { Inject, Injectable, Optional, type ExecutionContext } from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard as NestThrottlerGuard,
  type ThrottlerModuleOptions as NestThrottlerModuleOptions,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import { MetricsService } from '../http';
import { EdgeRefusals, type EdgeRequest } from './edge-refusals';
import { ThrottleStoreUnavailableError } from './failover-throttle.store';
import { policyField, rateLimitField } from './rate-limit-fields';
import { RoutePlanner, type Check, type PendingCheck, type RoutePlan, type TierPlan } from './throttle-plan';
import { throttleStoreUnavailable, tooManyRequests } from './throttler.errors';
import { ThrottlerMetrics } from './throttler.metrics';
import {
  THROTTLE_STORE,
  THROTTLER_SETTINGS,
  type ThrottledRequest,
  type ThrottlerSettings,
} from './throttler.module-definition';
import { fromThrottlerStorage, type ThrottleRule, type ThrottleStore, type ThrottleVerdict } from './throttle.store';

type Reply = {
  header?(name: string, value: string): unknown;
  setHeader?(name: string, value: string): unknown;
  raw?: RawReply;
} & RawReply;
type RawReply = { statusCode: number; once?(event: 'finish', listener: () => void): unknown };

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
  private readonly stores = new Map<string, ThrottleStore>();
  private readonly planner: RoutePlanner;
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
    @Optional() private readonly edge?: EdgeRefusals,
  ) {
    super(options, storage, reflector);
    this.tierMetrics = metrics ?? new ThrottlerMetrics(metricsService?.registry);
    this.planner = new RoutePlanner(settings, reflector, (tier) => this.stores.get(tier) ?? this.store);
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
    const plan = this.planner.planFor(context);
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
        const rule = tier.rule ?? (await this.planner.resolveRule(context, tier));
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
    const policy = (authenticated ? plan.authenticatedPolicy : plan.anonymousPolicy) ?? policyField(checks);
    const current = rateLimitField(tiers, checks);
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
      const request = context.switchToHttp().getRequest<ThrottledRequest & EdgeRequest>();
      if (!authenticated && plan.anonymousIpOnly && !plan.failuresOnly && EdgeRefusals.eligible(request)) {
        const [first] = checks as [Check];
        const client = first.id.slice(first.tier.scope.length + 1);
        this.edge?.remember(request, client, { until: Date.now() + retryAfterMs, violated, policy });
      }
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
}
