import type { ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { normalizeIp } from '@nestjs/throttler';
import { THROTTLE_FAILURES_ONLY } from './throttler.decorators';
import type {
  ThrottledRequest,
  ThrottlerSettings,
  ThrottlerTier,
  ThrottleTracker,
} from './throttler.module-definition';
import type { ThrottleRule, ThrottleStore, ThrottleVerdict } from './throttle.store';
import { policyItem } from './rate-limit-fields';

// @nestjs/throttler's metadata keys (its constants are not exported from the package root).
const LIMIT = 'THROTTLER:LIMIT';
const TTL = 'THROTTLER:TTL';
const BLOCK = 'THROTTLER:BLOCK_DURATION';
const TRACKER = 'THROTTLER:TRACKER';
const KEY_GENERATOR = 'THROTTLER:KEY_GENERATOR';
const SKIP = 'THROTTLER:SKIP';

type Resolvable = number | ((context: ExecutionContext) => number | Promise<number>);
export type Partition = (
  request: ThrottledRequest,
  context: ExecutionContext,
) => string | undefined | Promise<string | undefined>;

/** One tier as it applies to one route, resolved once per route. */
export interface TierPlan {
  name: string;
  /** Key space: the tier, or the tier and the route when the route sets its own limits. */
  scope: string;
  store: ThrottleStore;
  failClosed: boolean;
  lease?: boolean;
  partitions: Partition[];
  /** @Throttle's own getTracker / generateKey (may be async). */
  custom: boolean;
  /** Counts per client IP only. */
  ipOnly: boolean;
  /** Set when limit, ttl and block are plain numbers; otherwise resolved per request. */
  rule?: ThrottleRule;
  limit: Resolvable;
  ttl: Resolvable;
  blockDuration: Resolvable;
}

export interface RoutePlan {
  /** Every rule static and every tracker synchronous: decided without awaiting anything it need not. */
  sync: boolean;
  anonymous: TierPlan[];
  authenticated: TierPlan[];
  failuresOnly: boolean;
  /** Anonymous requests count per client IP only, with static rules: their refusals can be answered at the edge. */
  anonymousIpOnly: boolean;
  /** RateLimit-Policy field values, when every tier's rule is static. */
  anonymousPolicy?: string;
  authenticatedPolicy?: string;
}

/** One hit asked of one store for one request. */
export interface PendingCheck {
  tier: TierPlan;
  rule: ThrottleRule;
  id: string;
  verdict: ThrottleVerdict | Promise<ThrottleVerdict>;
}

export interface Check extends PendingCheck {
  verdict: ThrottleVerdict;
}

/**
 * Which tiers apply to a route, with which numbers and trackers: read once per route from the
 * decorators (handler, then class) and the module's tiers, then kept.
 */
export class RoutePlanner {
  private readonly plans = new WeakMap<object, WeakMap<object, RoutePlan>>();

  constructor(
    private readonly settings: ThrottlerSettings,
    private readonly reflector: Reflector,
    private readonly storeOf: (tier: string) => ThrottleStore,
  ) {}

  planFor(context: ExecutionContext): RoutePlan {
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
        store: this.storeOf(tier.name),
        failClosed: tier.failClosed ?? false,
        lease: tier.lease,
        partitions: this.partitionsOf(tier, meta),
        custom: meta(TRACKER + tier.name) !== undefined || meta(KEY_GENERATOR + tier.name) !== undefined,
        ipOnly: false,
        limit: limit ?? tier.limit,
        ttl: ttl ?? tier.ttl,
        blockDuration: blockDuration ?? tier.blockDuration ?? 0,
      };
      plan.ipOnly = !plan.custom && (tier.trackers ?? ['ip']).every((tracker) => tracker === 'ip');
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
      anonymousIpOnly: anonymous.length > 0 && anonymous.every((p) => p.ipOnly && p.rule !== undefined),
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

  async resolveRule(context: ExecutionContext, tier: TierPlan): Promise<ThrottleRule> {
    const value = async (v: Resolvable) => (typeof v === 'function' ? v(context) : v);
    return {
      limit: await value(tier.limit),
      windowMs: await value(tier.ttl),
      blockMs: await value(tier.blockDuration),
      lease: tier.lease,
    };
  }
}
