import { Controller, Get, Injectable, UseGuards, type CanActivate } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { ThrottlerStorageService } from '@nestjs/throttler';
import { RedisService, type RedisScriptCall } from '../platform/redis';
import { Public } from '../platform/session';
import {
  MemoryThrottleStore,
  SkipThrottle,
  Throttle,
  tooManyRequests,
  type ThrottlerTier,
} from '../platform/throttler';

/** Storages the bench tiers use instead of the module's store. */
export const PEER_STORAGE = Symbol('bench:throttle:peer');
export const NEST_MEMORY_STORAGE = Symbol('bench:throttle:nest-memory');
export const OUR_MEMORY_STORAGE = Symbol('bench:throttle:memory');

const HUGE = 999_999_999;

/**
 * One tier per storage under test, each with a limit no run reaches, and one that is always over.
 * Windows are 1 s: an exact sliding log holds every hit of its window (a sorted-set member in
 * Redis), so a 60 s window at this rate would hold a million members, far beyond any real key.
 */
export function benchTiers(): ThrottlerTier[] {
  return [
    { name: 'bench-shared', limit: HUGE, ttl: 1000, lease: false },
    { name: 'bench-leased', limit: HUGE, ttl: 1000 },
    { name: 'bench-peer', limit: HUGE, ttl: 1000, storage: PEER_STORAGE },
    { name: 'bench-nest-memory', limit: HUGE, ttl: 1000, storage: NEST_MEMORY_STORAGE },
    { name: 'bench-memory', limit: HUGE, ttl: 1000, storage: OUR_MEMORY_STORAGE },
    { name: 'bench-over', limit: 1, ttl: 3_600_000 },
  ];
}

/** @nest-lab/throttler-storage-redis (a devDependency: loaded only when the bench routes are on). */
export async function createPeerStorage(redis: RedisService): Promise<unknown> {
  if (!redis.configured) return new ThrottlerStorageService();
  const { ThrottlerStorageRedisService } = await import('@nest-lab/throttler-storage-redis');
  const connection = redis.createConnection({ keyPrefix: `${redis.prefix}bench:peer:` });
  // Not awaited: against a Redis that never answers, connect() never settles and the app would not start.
  void connection.connect().catch(() => undefined);
  // Its types name ioredis 5; the client is ioredis 6, whose API it uses (call, eval) is unchanged.
  return new ThrottlerStorageRedisService(connection as never);
}

export const benchStorageProviders = [
  { provide: PEER_STORAGE, inject: [RedisService], useFactory: createPeerStorage },
  { provide: NEST_MEMORY_STORAGE, useFactory: () => new ThrottlerStorageService() },
  { provide: OUR_MEMORY_STORAGE, useFactory: () => new MemoryThrottleStore() },
];

/**
 * The floor of any Redis rate limiter: a guard that makes exactly one EVALSHA round trip (an
 * INCR) and nothing else.
 */
@Injectable()
class OneEvalshaGuard implements CanActivate {
  private readonly incr?: RedisScriptCall<number>;

  constructor(redis: RedisService) {
    if (redis.configured) {
      this.incr = redis.defineScript({
        name: 'boBenchIncr',
        lua: "return redis.call('INCR', KEYS[1])",
        numberOfKeys: 1,
      });
    }
  }

  async canActivate(): Promise<boolean> {
    if (this.incr) await this.incr(['bench:evalsha']);
    return true;
  }
}

/**
 * The floor of any guard that refuses: it throws one prebuilt 429 problem and does nothing else.
 * Its gap to the bare route is Nest's exception path (the throw, the filter, a larger answer).
 */
@Injectable()
class RefuseFloorGuard implements CanActivate {
  private readonly refusal = tooManyRequests(60_000, ['floor'], {});

  canActivate(): boolean {
    throw this.refusal;
  }
}

/** Reference routes for the throttling benchmark (BENCH_ROUTES=true only); the same body as the bare route. */
@ApiExcludeController()
@Public()
@Controller('__bench/throttle')
export class ThrottleBenchController {
  /** Under its limit, on the module's store (Redis when configured). */
  @Throttle({ 'bench-shared': {} })
  @Get('shared')
  shared() {
    return { ok: true };
  }

  /** Under its limit, on the module's store, hits taken from Redis in leases. */
  @Throttle({ 'bench-leased': {} })
  @Get('leased')
  leased() {
    return { ok: true };
  }

  @Throttle({ 'bench-peer': {} })
  @Get('peer')
  peer() {
    return { ok: true };
  }

  @Throttle({ 'bench-nest-memory': {} })
  @Get('nest-memory')
  nestMemory() {
    return { ok: true };
  }

  @Throttle({ 'bench-memory': {} })
  @Get('memory')
  memory() {
    return { ok: true };
  }

  /** One hit an hour: after the first request, every answer is the 429 path. */
  @Throttle({ 'bench-over': {} })
  @Get('over')
  over() {
    return { ok: true };
  }

  @SkipThrottle()
  @UseGuards(OneEvalshaGuard)
  @Get('evalsha')
  evalsha() {
    return { ok: true };
  }

  @SkipThrottle()
  @UseGuards(RefuseFloorGuard)
  @Get('refuse-floor')
  refuseFloor() {
    return { ok: true };
  }
}
