import type { SessionTouch } from './session.store';

/**
 * Idle-timeout touches written behind: the uses of each session are coalesced (last one wins)
 * and flushed together once per interval, so a session costs at most one write per interval
 * whatever its traffic, and its last-seen time in the store lags by at most the interval.
 */
export class SessionTouches {
  private pending = new Map<string, SessionTouch>();
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;

  constructor(
    private readonly intervalMs: number,
    private readonly write: (touches: SessionTouch[]) => Promise<void>,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  add(partition: string, id: string, seenAt: number): void {
    const known = this.pending.get(id);
    if (known) {
      if (seenAt > known.seenAt) known.seenAt = seenAt;
      return;
    }
    this.pending.set(id, { partition, id, seenAt });
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** A session revoked here needs no more touches. */
  forget(id: string): void {
    this.pending.delete(id);
  }

  /** Writes what is pending now; a failed batch is put back (newer uses of the same session win). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    if (!this.pending.size) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.flushing = this.write(batch).catch(() => {
      for (const touch of batch) if (!this.pending.has(touch.id)) this.add(touch.partition, touch.id, touch.seenAt);
    });
    await this.flushing;
    this.flushing = undefined;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
