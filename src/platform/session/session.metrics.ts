import { Counter, Gauge, type Registry } from 'prom-client';

/** The session store's Prometheus metrics (none registered without a registry). */
export class SessionMetrics {
  private readonly failures: Counter;
  private readonly refused: Counter;
  private readonly revocations: Counter;
  private readonly breaker: Gauge;

  constructor(registry: Registry | undefined, l1Size: () => number) {
    const registers = registry ? [registry] : [];
    this.failures = new Counter({
      name: 'session_store_failures_total',
      help: 'Session store commands that failed or timed out (the first ones open the breaker)',
      registers,
    });
    this.refused = new Counter({
      name: 'session_store_refused_total',
      help: 'Session store calls refused at once (503) while the breaker was open',
      registers,
    });
    this.revocations = new Counter({
      name: 'session_revocations_received_total',
      help: 'Revoked session ids announced over pub/sub and dropped from the in-process tier',
      registers,
    });
    this.breaker = new Gauge({
      name: 'session_store_breaker_open',
      help: '1 while the session store breaker is open (authenticated requests answer 503 at once)',
      registers,
    });
    this.breaker.set(0);
    new Gauge({
      name: 'session_l1_entries',
      help: 'Verified sessions held in the in-process tier',
      registers,
      collect() {
        this.set(l1Size());
      },
    });
  }

  failure(): void {
    this.failures.inc();
  }

  refusal(): void {
    this.refused.inc();
  }

  revoked(count: number): void {
    this.revocations.inc(count);
  }

  breakerOpen(open: boolean): void {
    this.breaker.set(open ? 1 : 0);
  }
}
