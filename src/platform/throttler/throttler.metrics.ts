import { Counter, type Registry } from 'prom-client';

interface Inc {
  inc(): void;
}

/** The throttler's Prometheus metrics; labelled children are kept, since a label lookup per request costs. */
export class ThrottlerMetrics {
  private readonly refusals: Counter<'throttler'>;
  private readonly fallbacks: Counter<'throttler'>;
  private readonly storeErrors: Counter;
  private readonly children = new Map<string, Inc>();

  constructor(registry: Registry | undefined) {
    const registers = registry ? [registry] : [];
    this.refusals = new Counter({
      name: 'throttle_refused_total',
      help: 'Requests answered 429, by throttler (tier)',
      labelNames: ['throttler'] as const,
      registers,
    });
    this.fallbacks = new Counter({
      name: 'throttle_fallback_total',
      help: 'Hits decided by the per-process insurance limiter while Redis was unusable, by throttler',
      labelNames: ['throttler'] as const,
      registers,
    });
    this.storeErrors = new Counter({
      name: 'throttle_store_errors_total',
      help: 'Rate-limit commands on Redis that failed or timed out (each opens the breaker)',
      registers,
    });
  }

  refused(throttler: string): void {
    this.child(`r ${throttler}`, () => this.refusals.labels(throttler)).inc();
  }

  fallback(throttler: string): void {
    this.child(`f ${throttler}`, () => this.fallbacks.labels(throttler)).inc();
  }

  storeError(): void {
    this.storeErrors.inc();
  }

  private child(key: string, create: () => Inc): Inc {
    let child = this.children.get(key);
    if (!child) this.children.set(key, (child = create()));
    return child;
  }
}
