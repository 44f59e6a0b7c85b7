import { Logger } from '@nestjs/common';

export interface RedisBreakerOptions {
  /** What the log lines call the guarded thing, e.g. `session store`. */
  name: string;
  /** A cheap command with its own deadline (a PING); resolving closes the breaker. */
  probe: () => Promise<unknown>;
  /** Consecutive failures that open the breaker. Default 1. */
  failureThreshold?: number;
  /** Pause between background probes while open. Default 250 ms. */
  probeIntervalMs?: number;
  /** Called on every failure, and when the breaker opens or closes (metrics). */
  onFailure?(): void;
  onStateChange?(open: boolean): void;
  logger?: Logger;
}

/** Raised at once, without touching Redis, while the breaker is open. */
export class RedisBreakerOpenError extends Error {
  constructor(name: string) {
    super(`${name} unavailable (circuit open)`);
    this.name = 'RedisBreakerOpenError';
  }
}

/**
 * A circuit breaker for request-path Redis calls. Closed, calls go through; after
 * `failureThreshold` consecutive failures (timeouts, lost connection) it opens: calls fail at
 * once with `RedisBreakerOpenError`, and a background probe runs every `probeIntervalMs` until it
 * answers, which closes it. One warn line when it opens and one line when it closes: an outage
 * logs twice, however many requests it refuses.
 */
export class RedisBreaker {
  private readonly logger: Logger;
  private readonly threshold: number;
  private readonly intervalMs: number;
  private failures = 0;
  private opened = false;
  private timer?: NodeJS.Timeout;
  private probing = false;
  private stopped = false;

  constructor(private readonly options: RedisBreakerOptions) {
    this.logger = options.logger ?? new Logger('RedisBreaker');
    this.threshold = options.failureThreshold ?? 1;
    this.intervalMs = options.probeIntervalMs ?? 250;
  }

  get isOpen(): boolean {
    return this.opened;
  }

  /** Runs `operation` unless open; its failure counts towards opening and is rethrown. */
  async run<T>(operation: () => Promise<T>): Promise<T> {
    if (this.opened) throw new RedisBreakerOpenError(this.options.name);
    try {
      const result = await operation();
      this.failures = 0;
      return result;
    } catch (error) {
      this.failure(error);
      throw error;
    }
  }

  /** Counts a failure seen outside `run` (a background write, say). */
  failure(error: unknown): void {
    this.options.onFailure?.();
    if (this.opened || this.stopped || ++this.failures < this.threshold) return;
    this.opened = true;
    this.logger.warn(
      `${this.options.name} unavailable, refusing at once until it answers: ${(error as Error)?.message ?? error}`,
    );
    this.options.onStateChange?.(true);
    this.schedule(this.intervalMs);
  }

  /** Probes now (e.g. when the connection reports ready again) instead of at the next interval. */
  probeSoon(): void {
    if (this.opened) this.schedule(0);
  }

  /** Stops probing; closing twice is harmless. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.probe(), ms);
    this.timer.unref();
  }

  private async probe(): Promise<void> {
    if (this.probing || !this.opened || this.stopped) return;
    this.probing = true;
    try {
      await this.options.probe();
      this.opened = false;
      this.failures = 0;
      this.logger.log(`${this.options.name} available again`);
      this.options.onStateChange?.(false);
    } catch {
      this.schedule(this.intervalMs);
    } finally {
      this.probing = false;
    }
  }
}
