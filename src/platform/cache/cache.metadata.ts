/**
 * - `public`: one entry for every anonymous caller (`Cache-Control: public`).
 * - `user`: one entry per authenticated caller (`private`); anonymous callers are not cached.
 * Whatever the scope, a response to an authenticated request is keyed on its caller.
 */
export type CacheScope = 'public' | 'user';

export interface CachedOptions {
  /** Fresh time in ms. Default: the module's `defaultTtlMs`. */
  ttl?: number;
  /** Tags of the entry; `{name}` is replaced by the route parameter, e.g. `event:{id}`. */
  tags?: string[];
  /** Default `public`. */
  scope?: CacheScope;
  /** Grace time in ms after `ttl`: the stale response is served at once and refreshed in the background. */
  staleWhileRevalidate?: number;
  /** `max-age` (seconds) given to clients and shared caches. Default 0: they revalidate each time (`no-cache`) with the ETag. */
  maxAge?: number;
}

export interface InvalidatesCacheOptions {
  /** Tags to invalidate once the handler succeeded; `{name}` is replaced by the route parameter. */
  tags: string[];
}

export const CACHED = 'box-office:cache:cached';
export const INVALIDATES_CACHE = 'box-office:cache:invalidates';
