import { Counter, Gauge, type Registry } from 'prom-client';

export type CacheResultLabel = 'hit_l1' | 'hit_l2' | 'stale' | 'miss' | 'bypass';

interface Inc {
  inc(): void;
}

/** The cache's Prometheus metrics; labelled children are kept, since a label lookup per request costs. */
export class CacheMetrics {
  private readonly requests: Counter<'cache' | 'result'>;
  private readonly loads: Counter<'cache'>;
  private readonly storeErrors: Counter;
  private readonly children = new Map<string, Inc>();
  private readonly requestChildren = new Map<string, Map<CacheResultLabel, Inc>>();

  constructor(registry: Registry | undefined, l1Size: () => number) {
    const registers = registry ? [registry] : [];
    this.requests = new Counter({
      name: 'cache_requests_total',
      help: 'Cache lookups by cache name and result (hit_l1, hit_l2, stale, miss, bypass = store unusable)',
      labelNames: ['cache', 'result'] as const,
      registers,
    });
    this.loads = new Counter({
      name: 'cache_loads_total',
      help: 'Loader (source) runs by cache name, background refreshes included',
      labelNames: ['cache'] as const,
      registers,
    });
    this.storeErrors = new Counter({
      name: 'cache_store_errors_total',
      help: 'Cache store commands that failed or timed out (each opens the breaker)',
      registers,
    });
    new Gauge({
      name: 'cache_l1_entries',
      help: 'Entries held in the in-process tier',
      registers,
      collect() {
        this.set(l1Size());
      },
    });
  }

  request(cache: string, result: CacheResultLabel): void {
    let byResult = this.requestChildren.get(cache);
    if (!byResult) this.requestChildren.set(cache, (byResult = new Map()));
    let child = byResult.get(result);
    if (!child) byResult.set(result, (child = this.requests.labels(cache, result)));
    child.inc();
  }

  load(cache: string): void {
    this.child(`l ${cache}`, () => this.loads.labels(cache)).inc();
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
