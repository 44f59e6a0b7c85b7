import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger, Optional, type OnModuleInit } from '@nestjs/common';
import { MetricsService } from '../http';
import { RedisService } from '../redis';
import { CacheMetrics, type CacheResultLabel } from './cache.metrics';
import { CACHE_DEFAULTS, CACHE_MODULE_OPTIONS, type CacheModuleOptions } from './cache.module-definition';
import { InjectCacheStore, type CacheEntry, type CacheSignal, type CacheStore } from './cache.store';
import { L1Tier } from './l1-tier';
import { TagVersions } from './tag-versions';

/** Turns values into the string a store keeps, and back. */
export interface CacheCodec<T> {
  encode(value: T): string;
  decode(payload: string): T;
}

export interface CacheOptions<T> {
  /** Fresh time in ms. Default: the module's `defaultTtlMs`. */
  ttl?: number;
  /** Invalidating any of these tags (`invalidateTags`) invalidates the entry, on every instance. */
  tags?: string[];
  /** Grace time in ms after `ttl` during which the stale value is served at once and refreshed in the background. */
  staleWhileRevalidate?: number;
  /** Default JSON. */
  codec?: CacheCodec<T>;
  /** Metric label (keep it low-cardinality, e.g. a route pattern). Default `default`. */
  name?: string;
}

export type CacheOutcome = 'HIT' | 'MISS' | 'STALE';

export interface CacheResult<T> {
  value: T;
  outcome: CacheOutcome;
}

export type CacheLoader<T> = () => T | Promise<T>;

interface Spec<T> {
  ttl: number;
  swr: number;
  tags: string[];
  codec: CacheCodec<T>;
  name: string;
}

/** A store command failed: the cache fails open, unlike a loader error, which is the caller's. */
class StoreFailure extends Error {}

const JSON_CODEC: CacheCodec<unknown> = { encode: (value) => JSON.stringify(value), decode: (p) => JSON.parse(p) };
const hash = (value: string) => RedisService.hashKeyPart(value);

/**
 * Two-tier cache with tags, stampede protection and stale-while-revalidate, failing open.
 *
 * - L1: a bounded in-process LRU in front of a shared store (Redis). Its entries stay valid only
 *   while this instance hears the store's signals (pub/sub): fills, deletes and tag versions.
 * - Tags are versioned: an entry keeps the versions its tags had when its loader started, and
 *   invalidating a tag is one version bump, whatever the number of entries under it.
 * - A miss runs the loader once per cluster: in-process single flight, then a fill lease in the
 *   store; other instances wait for the fill signal (or poll) and read the value when it lands.
 * - Any store failure or timeout opens a breaker: for `retryAfterFailureMs` every call goes to
 *   the source and the L1 is not trusted (it may have missed invalidations).
 */
@Injectable()
export class CacheService implements OnModuleInit {
  private readonly logger = new Logger('Cache');
  private readonly options: Required<CacheModuleOptions>;
  private readonly l1: L1Tier | null;
  private readonly tags: TagVersions;
  private readonly flights = new Map<string, Promise<CacheResult<unknown>>>();
  private readonly refreshing = new Set<string>();
  private readonly fillWaiters = new Map<string, Set<() => void>>();
  /** Tags whose invalidation could not reach the store; replayed before the store is trusted again. */
  private readonly pendingTags = new Set<string>();
  private readonly decoded = new WeakMap<CacheEntry, unknown>();
  private readonly instance = randomBytes(6).toString('base64url');
  private readonly metrics: CacheMetrics;
  private replaying?: Promise<void>;
  private sequence = 0;
  private breakerUntil = 0;
  private outage = false;

  constructor(
    @InjectCacheStore() private readonly store: CacheStore,
    @Inject(CACHE_MODULE_OPTIONS) options: CacheModuleOptions,
    @Optional() metrics?: MetricsService,
  ) {
    this.options = { ...CACHE_DEFAULTS, ...options };
    this.l1 =
      store.shared && this.options.l1MaxEntries > 0
        ? new L1Tier(this.options.l1MaxEntries, this.options.l1MaxBytes)
        : null;
    this.tags = new TagVersions((tags) => this.storeCall(() => this.store.tagVersions(tags)));
    this.metrics = new CacheMetrics(metrics?.registry, () => this.l1?.size ?? 0);
    store.onSignal((signal) => this.onSignal(signal));
  }

  /** Entries held in the L1 (0 when it is off or the store is in-process). */
  get l1Size(): number {
    return this.l1?.size ?? 0;
  }

  async onModuleInit(): Promise<void> {
    await this.store.connect();
  }

  /** The cached value of `key`, or the loader's (stored for the next caller). */
  async getOrSet<T>(key: string, loader: CacheLoader<T>, options: CacheOptions<T> = {}): Promise<T> {
    return (await this.fetch(key, loader, options)).value;
  }

  /** The L1 alone, synchronously: a fresh, current value or undefined. Never runs the loader. */
  peek<T>(key: string, name = 'default'): T | undefined {
    const item = this.l1?.get(key);
    if (!item) return;
    const now = Date.now();
    if (now >= item.entry.freshUntil || now < this.breakerUntil || !this.store.ready) return;
    if (!this.tags.currentLocally(item.entry)) return;
    this.metrics.request(name, 'hit_l1');
    return item.value as T;
  }

  /** Like `getOrSet`, and says where the value came from. */
  async fetch<T>(key: string, loader: CacheLoader<T>, options: CacheOptions<T> = {}): Promise<CacheResult<T>> {
    const spec = this.spec(options);
    const local = this.fromL1(key, loader, spec);
    if (local) return local;
    const id = hash(key);
    let flight = this.flights.get(id) as Promise<CacheResult<T>> | undefined;
    if (!flight) {
      flight = this.resolve(key, id, loader, spec).finally(() => this.flights.delete(id));
      this.flights.set(id, flight);
    }
    return flight;
  }

  /** Invalidates every entry under these tags, on every instance; never throws (a failure is replayed later). */
  async invalidateTags(tags: string[]): Promise<void> {
    const ids = [...new Set(tags)].map(hash);
    if (!ids.length) return;
    if (!this.usable()) {
      ids.forEach((id) => this.pendingTags.add(id));
      return;
    }
    try {
      const versions = await Promise.all(ids.map((id) => this.store.invalidateTag(id)));
      ids.forEach((id, i) => this.tags.learn(id, versions[i]!));
    } catch (error) {
      ids.forEach((id) => this.pendingTags.add(id));
      this.trip(error);
    }
  }

  /** Removes one key on every instance; fails open like the rest. */
  async delete(key: string): Promise<void> {
    const id = hash(key);
    this.l1?.delete(key);
    if (!this.usable()) return;
    await this.store.delete(id).catch((error: unknown) => this.trip(error));
  }

  /** Empties this cache's namespace in the store (never the rest of Redis) and every instance's L1. */
  async clear(): Promise<void> {
    this.l1?.clear();
    this.tags.forget();
    await this.store.clear();
  }

  private spec<T>(options: CacheOptions<T>): Spec<T> {
    return {
      ttl: options.ttl ?? this.options.defaultTtlMs,
      swr: options.staleWhileRevalidate ?? 0,
      tags: options.tags?.length ? [...new Set(options.tags)].map(hash) : [],
      codec: options.codec ?? (JSON_CODEC as CacheCodec<T>),
      name: options.name ?? 'default',
    };
  }

  private usable(): boolean {
    return this.store.ready && Date.now() >= this.breakerUntil;
  }

  private fromL1<T>(key: string, loader: CacheLoader<T>, spec: Spec<T>): CacheResult<T> | undefined {
    const item = this.l1?.get(key);
    if (!item || !this.usable() || !this.tags.currentLocally(item.entry)) return;
    const now = Date.now();
    if (now < item.entry.freshUntil) return this.result(spec, 'hit_l1', item.value as T);
    if (now < item.entry.staleUntil) {
      this.refresh(key, item.id, loader, spec);
      return this.result(spec, 'stale', item.value as T);
    }
    this.l1!.delete(key);
  }

  private async resolve<T>(key: string, id: string, loader: CacheLoader<T>, spec: Spec<T>): Promise<CacheResult<T>> {
    if (!this.usable()) return this.bypass(loader, spec);
    try {
      if (this.pendingTags.size) await this.replayInvalidations();
      const entry = await this.storeCall(() => this.store.get(id));
      const found = entry && (await this.served(key, id, entry, loader, spec));
      if (found) return found;
      return await this.load(key, id, loader, spec);
    } catch (error) {
      if (!(error instanceof StoreFailure)) throw error;
      this.trip(error.cause);
      return this.bypass(loader, spec);
    }
  }

  /** A stored entry as a result, if its tags are current and it is fresh or within its grace time. */
  private async served<T>(
    key: string,
    id: string,
    entry: CacheEntry,
    loader: CacheLoader<T>,
    spec: Spec<T>,
  ): Promise<CacheResult<T> | undefined> {
    const now = Date.now();
    if (now >= entry.staleUntil || !(await this.tags.current(entry))) return;
    const value = this.decode(entry, spec.codec);
    this.remember(key, id, entry, value);
    if (now < entry.freshUntil) return this.result(spec, 'hit_l2', value);
    this.refresh(key, id, loader, spec);
    return this.result(spec, 'stale', value);
  }

  /** A miss: take the fill lease and load, or wait for whoever holds it. */
  private async load<T>(key: string, id: string, loader: CacheLoader<T>, spec: Spec<T>): Promise<CacheResult<T>> {
    const owner = this.owner();
    const versions = await this.tags.of(spec.tags);
    const deadline = Date.now() + this.options.fillLeaseMs;
    let leased = false;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      leased = await this.storeCall(() => this.store.acquireFill(id, owner, this.options.fillLeaseMs));
      if (leased) {
        // Whoever held the lease may have filled and released it between our miss and our lease.
        const filled = await this.storeCall(() => this.store.get(id));
        const found = filled && (await this.served(key, id, filled, loader, spec));
        if (!found) break;
        await this.store.releaseFill(id, owner).catch(() => undefined);
        return found;
      }
      await this.fillSignalOrPoll(id, Math.min(deadline - Date.now(), 20 * 2 ** Math.min(attempt, 4)));
      const entry = await this.storeCall(() => this.store.get(id));
      const found = entry && (await this.served(key, id, entry, loader, spec));
      if (found) return found;
    }
    // Leased, or the holder never filled within its lease: run the loader (fail open, no hang).
    const value = await this.runLoader(loader, spec).catch(async (error: unknown) => {
      if (leased) await this.store.releaseFill(id, owner).catch(() => undefined);
      throw error;
    });
    const entry = this.entryOf(value, versions, spec);
    this.remember(key, id, entry, value);
    // The loader ran: a failed write costs the next caller a load, never this one a second load.
    await this.store.fill(id, entry, leased ? owner : `${this.instance}:`).catch((error: unknown) => this.trip(error));
    return this.result(spec, 'miss', value);
  }

  /** The store is unusable: the source answers, once per key and instance at a time; nothing is stored. */
  private async bypass<T>(loader: CacheLoader<T>, spec: Spec<T>): Promise<CacheResult<T>> {
    return this.result(spec, 'bypass', await this.runLoader(loader, spec));
  }

  /** Stale-while-revalidate: one refresh per key across the cluster; failures keep the stale value. */
  private refresh<T>(key: string, id: string, loader: CacheLoader<T>, spec: Spec<T>): void {
    if (this.refreshing.has(id) || !this.usable()) return;
    this.refreshing.add(id);
    const owner = this.owner();
    void (async () => {
      try {
        const versions = await this.tags.of(spec.tags);
        if (!(await this.storeCall(() => this.store.acquireFill(id, owner, this.options.fillLeaseMs)))) return;
        let value: T;
        try {
          value = await this.runLoader(loader, spec);
        } catch (error) {
          await this.store.releaseFill(id, owner).catch(() => undefined);
          this.logger.debug(`background refresh failed: ${(error as Error).message}`);
          return;
        }
        const entry = this.entryOf(value, versions, spec);
        this.remember(key, id, entry, value);
        await this.store.fill(id, entry, owner).catch((error: unknown) => this.trip(error));
      } catch (error) {
        if (error instanceof StoreFailure) this.trip(error.cause);
      } finally {
        this.refreshing.delete(id);
      }
    })();
  }

  private async runLoader<T>(loader: CacheLoader<T>, spec: Spec<T>): Promise<T> {
    this.metrics.load(spec.name);
    return loader();
  }

  private entryOf<T>(value: T, versions: string[], spec: Spec<T>): CacheEntry {
    const now = Date.now();
    const freshUntil = now + spec.ttl;
    return {
      payload: spec.codec.encode(value),
      freshUntil,
      staleUntil: freshUntil + spec.swr,
      tags: spec.tags,
      versions,
    };
  }

  private remember(key: string, id: string, entry: CacheEntry, value: unknown): void {
    if (this.l1 && this.usable()) this.l1.set(key, { entry, value, id });
  }

  private result<T>(spec: Spec<T>, label: CacheResultLabel, value: T): CacheResult<T> {
    this.metrics.request(spec.name, label);
    const outcome: CacheOutcome =
      label === 'stale' ? 'STALE' : label === 'hit_l1' || label === 'hit_l2' ? 'HIT' : 'MISS';
    return { value, outcome };
  }

  private onSignal(signal: CacheSignal): void {
    switch (signal.kind) {
      case 'tag':
        this.tags.learn(signal.tag, signal.version);
        break;
      case 'fill':
        if (!signal.owner.startsWith(`${this.instance}:`)) this.l1?.deleteById(signal.key);
        this.fillWaiters.get(signal.key)?.forEach((wake) => wake());
        break;
      case 'key':
        this.l1?.deleteById(signal.key);
        break;
      case 'reset':
        this.l1?.clear();
        this.tags.forget();
        break;
    }
  }

  private fillSignalOrPoll(id: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let waiters = this.fillWaiters.get(id);
      if (!waiters) this.fillWaiters.set(id, (waiters = new Set()));
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        if (!waiters.size) this.fillWaiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      waiters.add(done);
    });
  }

  private async replayInvalidations(): Promise<void> {
    this.replaying ??= (async () => {
      try {
        for (const tag of [...this.pendingTags]) {
          this.tags.learn(tag, await this.storeCall(() => this.store.invalidateTag(tag)));
          this.pendingTags.delete(tag);
        }
      } finally {
        this.replaying = undefined;
      }
    })();
    return this.replaying;
  }

  /** Decoded once per entry object: the in-process store hands back the same object on every hit. */
  private decode<T>(entry: CacheEntry, codec: CacheCodec<T>): T {
    if (this.decoded.has(entry)) return this.decoded.get(entry) as T;
    const value = codec.decode(entry.payload);
    if (!this.store.shared) this.decoded.set(entry, value);
    return value;
  }

  private async storeCall<R>(call: () => Promise<R>): Promise<R> {
    try {
      const result = await call();
      if (this.outage) this.recovered();
      return result;
    } catch (error) {
      throw new StoreFailure('cache store failed', { cause: error });
    }
  }

  private owner(): string {
    return `${this.instance}:${++this.sequence}`;
  }

  /** Fail open: go to the source for a while, and stop trusting local copies (they may have missed signals). */
  private trip(error: unknown): void {
    this.breakerUntil = Date.now() + this.options.retryAfterFailureMs;
    this.l1?.clear();
    this.tags.forget();
    this.metrics.storeError();
    if (!this.outage) {
      this.outage = true;
      this.logger.warn(`cache store unavailable, serving from the source: ${(error as Error)?.message ?? error}`);
    }
  }

  private recovered(): void {
    if (!this.outage) return;
    this.outage = false;
    this.logger.log('cache store available again');
  }
}
