import { ConfigurableModuleBuilder } from '@nestjs/common';

export interface CacheModuleOptions {
  /** Fresh time of an entry when the caller gives none. Default 60 s. */
  defaultTtlMs?: number;
  /**
   * Bound of the in-process tier in entries; 0 turns the L1 off, so every hit is a Redis GET.
   * Without Redis it bounds the in-process store instead. Default 10,000.
   */
  l1MaxEntries?: number;
  /** Bound of the in-process tier in payload bytes. Default 64 MiB. */
  l1MaxBytes?: number;
  /** Timeout of each cache command on Redis; the cache fails open after it. Default 50 ms. */
  commandTimeoutMs?: number;
  /** How long one loader holds the fill lease of a key; waiters elsewhere wait at most this long. Default 5 s. */
  fillLeaseMs?: number;
  /** After a Redis failure, how long the cache goes straight to the source before trying Redis again. Default 1 s. */
  retryAfterFailureMs?: number;
}

export const { ConfigurableModuleClass: CacheConfigurableModule, MODULE_OPTIONS_TOKEN: CACHE_MODULE_OPTIONS } =
  new ConfigurableModuleBuilder<CacheModuleOptions>({ moduleName: 'Cache' }).setClassMethodName('forRoot').build();

export const CACHE_DEFAULTS = {
  defaultTtlMs: 60_000,
  l1MaxEntries: 10_000,
  l1MaxBytes: 64 * 1024 * 1024,
  commandTimeoutMs: 50,
  fillLeaseMs: 5_000,
  retryAfterFailureMs: 1_000,
} satisfies Required<CacheModuleOptions>;
