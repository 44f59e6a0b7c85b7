import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import { ApiHeader, ApiResponse } from '@nestjs/swagger';
import { CacheInterceptor } from './cache.interceptor';
import { CACHED, INVALIDATES_CACHE, type CachedOptions, type InvalidatesCacheOptions } from './cache.metadata';

/**
 * Caches a GET handler's JSON response (status, content type, body and ETag) in the two-tier
 * cache; answers 304 to a matching If-None-Match and says `X-Cache: HIT | MISS | STALE`.
 */
export const Cached = (options: CachedOptions = {}) =>
  applyDecorators(
    SetMetadata(CACHED, options),
    UseInterceptors(CacheInterceptor),
    ApiHeader({ name: 'If-None-Match', required: false, description: 'ETag of a copy the client holds' }),
    ApiResponse({ status: 304, description: 'Not modified: the ETag in If-None-Match is current' }),
  );

/** Opts a handler out of a class-level `@Cached`. */
export const NoCache = () => SetMetadata(CACHED, false);

/** Invalidates tags after the handler succeeded, before the response is sent. */
export const InvalidatesCache = (options: InvalidatesCacheOptions) =>
  applyDecorators(SetMetadata(INVALIDATES_CACHE, options), UseInterceptors(CacheInterceptor));
