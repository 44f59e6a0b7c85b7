import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
  Controller,
  Get,
  Header,
  HttpCode,
  Param,
  ParseIntPipe,
  ParseUUIDPipe,
  Post,
  Query,
  UseInterceptors,
} from '@nestjs/common';
import { CacheTTL } from '@nestjs/cache-manager';
import { map, of, type Observable } from 'rxjs';
import { ApiExcludeController } from '@nestjs/swagger';
import { EventDto, EventsService } from '../modules/events';
import { CacheService, Cached, NestCacheInterceptor } from '../platform/cache';
import { RedisService } from '../platform/redis';
import { CurrentUser, Public, type SessionUser } from '../platform/session';
import { SkipThrottle } from '../platform/throttler';

const JSON_TYPE = 'application/json; charset=utf-8';
const docKey = (id: string) => `bench:doc:${id}`;

/**
 * The floor of any caching interceptor in NestJS: after its first call it answers every request
 * with the same body through `of()`, doing nothing else. The gap between this and the bare route
 * is Nest's interceptor pipeline, which `@Cached` cannot avoid.
 */
@Injectable()
class FloorInterceptor implements NestInterceptor {
  private body?: string;

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    context.switchToHttp().getResponse<{ header(n: string, v: string): unknown }>().header('Content-Type', JSON_TYPE);
    if (this.body !== undefined) return of(this.body);
    return next.handle().pipe(map((value) => (this.body = JSON.stringify(value))));
  }
}

/** Reference routes for the cache benchmark (BENCH_ROUTES=true only). */
@ApiExcludeController()
@SkipThrottle()
@Controller('__bench/cache')
export class CacheBenchController {
  private runs = 0;

  constructor(
    private readonly events: EventsService,
    private readonly cache: CacheService,
    private readonly redis: RedisService,
  ) {}

  /** The source without any cache: what a miss costs. */
  @Public()
  @Get('source/events/:id')
  async source(@Param('id', ParseUUIDPipe) id: string) {
    return EventDto.from(await this.events.get(id));
  }

  /** The interceptor floor (see FloorInterceptor) on the event detail. */
  @Public()
  @Get('floor/events/:id')
  @UseInterceptors(FloorInterceptor)
  async floor(@Param('id', ParseUUIDPipe) id: string) {
    return EventDto.from(await this.events.get(id));
  }

  /** The peer: the event detail through the official CacheInterceptor (CACHE_MANAGER on a Redis Keyv store). */
  @Public()
  @Get('official/events/:id')
  @UseInterceptors(NestCacheInterceptor)
  @CacheTTL(600_000)
  async official(@Param('id', ParseUUIDPipe) id: string) {
    return EventDto.from(await this.events.get(id));
  }

  /** Stores an event's JSON as a plain Redis string, for the limit route. */
  @Public()
  @Post('docs/:id')
  @HttpCode(204)
  async storeDoc(@Param('id', ParseUUIDPipe) id: string): Promise<void> {
    const event = await this.events.get(id);
    await this.redis.client.set(docKey(id), JSON.stringify(EventDto.from(event)));
  }

  /** The limit of a Redis-backed hit: exactly one raw GET of a stored JSON document, returned as is. */
  @Public()
  @Get('docs/:id')
  @Header('Content-Type', 'application/json; charset=utf-8')
  async doc(@Param('id') id: string): Promise<string> {
    return (await this.redis.client.get(docKey(id))) ?? '{}';
  }

  /** Puts `n` entries under one tag (the tag-invalidation benchmark's setup). */
  @Public()
  @Post('tags/:tag/fill')
  async fillTag(@Param('tag') tag: string, @Query('n', ParseIntPipe) n: number) {
    const started = performance.now();
    for (let i = 0; i < n; i += 50) {
      const batch = Array.from({ length: Math.min(50, n - i) }, (_, j) =>
        this.cache.getOrSet(`bench:${tag}:${i + j}`, () => ({ i: i + j }), { ttl: 3_600_000, tags: [tag] }),
      );
      await Promise.all(batch);
    }
    return { tag, entries: n, ms: Math.round(performance.now() - started) };
  }

  /** Per-user scope: each caller has an entry of its own; `n` counts handler runs. */
  @Get('whoami')
  @Cached({ scope: 'user', ttl: 600_000 })
  whoami(@CurrentUser() user: SessionUser) {
    return { userId: user.id, n: ++this.runs };
  }

  /** Default (public) scope on an authenticated route: still keyed on the caller. */
  @Get('greeting')
  @Cached({ ttl: 600_000 })
  greeting(@CurrentUser() user: SessionUser) {
    return { hello: user.id, n: ++this.runs };
  }

  /** Invalidates one tag: the same work whether it covers 10 entries or 100,000. */
  @Public()
  @Post('tags/:tag/invalidate')
  @HttpCode(204)
  async invalidateTag(@Param('tag') tag: string): Promise<void> {
    await this.cache.invalidateTags([tag]);
  }
}
