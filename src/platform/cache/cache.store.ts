import { Inject } from '@nestjs/common';

/**
 * One stored value with its freshness and the versions its tags had when its loader started.
 * Keys, tags and lease owners reaching a store are already hashed by the CacheService.
 */
export interface CacheEntry {
  /** The value, encoded by the caller's codec. */
  payload: string;
  /** Epoch ms until which the entry is fresh. */
  freshUntil: number;
  /** Epoch ms until which it may be served stale while one refresh runs (≥ freshUntil). */
  staleUntil: number;
  tags: string[];
  /** Version of each tag (same order) when the loader started; any later version invalidates the entry. */
  versions: string[];
}

/** What every instance hears from a shared store: how its L1 and its tag versions go out of date. */
export type CacheSignal =
  | { kind: 'tag'; tag: string; version: string }
  | { kind: 'key'; key: string }
  /** `owner` is the lease owner that filled it (`<instance>:<n>`), so an instance can tell its own fills. */
  | { kind: 'fill'; key: string; owner: string }
  /** The signal stream was interrupted or the store cleared: drop everything held locally. */
  | { kind: 'reset' };

export interface CacheStore {
  /** Shared between instances (an L1 goes in front of it) or in-process (it is the only tier). */
  readonly shared: boolean;
  /** Connected and hearing signals; when false, the CacheService goes to the source. */
  readonly ready: boolean;
  connect(): Promise<void>;
  get(key: string): Promise<CacheEntry | undefined>;
  /** Stores the entry until `staleUntil`, releases the fill lease held by `owner`, signals `fill`. */
  fill(key: string, entry: CacheEntry, owner?: string): Promise<void>;
  /** Removes the entry and signals `key`. */
  delete(key: string): Promise<void>;
  /** Current version of each tag; a tag never seen gets a version from the clock, never a reused one. */
  tagVersions(tags: string[]): Promise<string[]>;
  /** Moves the tag to a new, higher version and signals `tag`; entries stamped before it are dead. */
  invalidateTag(tag: string): Promise<string>;
  /** The fill lease that makes one loader run per key across instances; true when `owner` got it. */
  acquireFill(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the lease if `owner` still holds it. */
  releaseFill(key: string, owner: string): Promise<void>;
  /** Removes every entry, tag and lease of this cache (nothing else) and signals `reset`. */
  clear(): Promise<void>;
  onSignal(listener: (signal: CacheSignal) => void): void;
}

export const CACHE_STORE = Symbol('CACHE_STORE');
export const InjectCacheStore = (): ParameterDecorator => Inject(CACHE_STORE);

let lastClockVersion = 0;

/**
 * A version from the clock (µs since the epoch), above `floor` and above every version this
 * process issued before: a tag that lost its counter never comes back with an old version, even
 * within the same millisecond.
 */
export function clockVersion(floor = 0): string {
  lastClockVersion = Math.max(Date.now() * 1000, floor + 1, lastClockVersion + 1);
  return String(lastClockVersion);
}
