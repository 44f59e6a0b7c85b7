import { LRUCache } from 'lru-cache';
import type { SessionUser } from './session.service';
import type { SessionRecord } from './session.store';

export interface L1Entry {
  session: SessionRecord;
  user: SessionUser;
  /** When the Redis read that loaded it was sent (epoch ms). */
  verifiedAt: number;
}

/**
 * Sessions verified in Redis, held in process memory (bounded, least recently used out first).
 * An entry is trusted while revocations are known to reach this instance: from its
 * verification on, and up to the channel's last proof of delivery (`coverage.upTo`), plus the
 * staleness bound. Without a live channel that leaves `maxStalenessMs` after verification.
 */
export class SessionL1 {
  private readonly entries: LRUCache<string, L1Entry>;
  /** Bumped by every revocation seen: a read in flight across one is not cached. */
  revocations = 0;

  constructor(
    max: number,
    private readonly maxStalenessMs: number,
    private readonly coverage: () => { since: number; upTo: number },
  ) {
    this.entries = new LRUCache({ max });
  }

  get size(): number {
    return this.entries.size;
  }

  /** The entry of `id` when it may be trusted at `now`; undefined otherwise. */
  trusted(id: string, now: number): L1Entry | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    const { since, upTo } = this.coverage();
    const proven = entry.verifiedAt >= since && upTo > entry.verifiedAt ? upTo : entry.verifiedAt;
    return now - proven <= this.maxStalenessMs ? entry : undefined;
  }

  /** Any entry of `id`, trusted or not (its last-seen time still counts). */
  peek(id: string): L1Entry | undefined {
    return this.entries.peek(id);
  }

  /** Keeps a verified session, unless a revocation arrived while it was being read. */
  set(entry: L1Entry, revocationsBefore: number): void {
    if (revocationsBefore === this.revocations) this.entries.set(entry.session.id, entry);
  }

  delete(ids: Iterable<string>): void {
    this.revocations++;
    for (const id of ids) this.entries.delete(id);
  }

  /** Drops every entry of a partition but `exceptId`: a revoke-all done here, before its announcement arrives. */
  deletePartition(partition: string, exceptId?: string): void {
    this.revocations++;
    for (const [id, entry] of this.entries.entries()) {
      if (entry.session.partition === partition && id !== exceptId) this.entries.delete(id);
    }
  }

  clear(): void {
    this.revocations++;
    this.entries.clear();
  }
}
