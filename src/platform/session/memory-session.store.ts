import type { SessionRecord, SessionStore } from './session.store';

interface Entry {
  session: SessionRecord;
  idleMs: number;
}

/**
 * Sessions in process memory, for when Redis is not configured. Bounded: when full, the least
 * recently used session goes first (a Map iterates in insertion order, and a touch re-inserts).
 */
export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, Entry>();
  private readonly partitions = new Map<string, Set<string>>();

  constructor(private readonly options: { maxSessions: number }) {}

  get size(): number {
    return this.sessions.size;
  }

  async create(session: SessionRecord, idleMs: number): Promise<void> {
    while (this.sessions.size >= this.options.maxSessions) {
      const oldest = this.sessions.values().next().value as Entry;
      this.remove(oldest.session.partition, oldest.session.id);
    }
    this.sessions.set(session.id, { session: { ...session, roles: [...session.roles] }, idleMs });
    let ids = this.partitions.get(session.partition);
    if (!ids) this.partitions.set(session.partition, (ids = new Set()));
    ids.add(session.id);
  }

  async touch(partition: string, id: string, now: number, idleMs: number): Promise<SessionRecord | null> {
    const entry = this.live(partition, id, now);
    if (!entry) return null;
    entry.session.lastSeenAt = Math.max(entry.session.lastSeenAt, now);
    entry.idleMs = idleMs;
    this.sessions.delete(id);
    this.sessions.set(id, entry);
    return { ...entry.session, roles: [...entry.session.roles] };
  }

  async list(partition: string, now: number): Promise<SessionRecord[]> {
    const ids = [...(this.partitions.get(partition) ?? [])];
    return ids
      .map((id) => this.live(partition, id, now)?.session)
      .filter((session): session is SessionRecord => session !== undefined)
      .sort((a, b) => b.createdAt - a.createdAt)
      .map((session) => ({ ...session, roles: [...session.roles] }));
  }

  async revoke(partition: string, id: string): Promise<boolean> {
    return this.remove(partition, id);
  }

  async revokeAll(partition: string, exceptId?: string): Promise<number> {
    let removed = 0;
    for (const id of [...(this.partitions.get(partition) ?? [])]) {
      if (id !== exceptId && this.remove(partition, id)) removed++;
    }
    return removed;
  }

  /** The entry when it belongs to the partition and is alive at `now`; a dead one is removed. */
  private live(partition: string, id: string, now: number): Entry | undefined {
    const entry = this.sessions.get(id);
    if (!entry || entry.session.partition !== partition) return undefined;
    const { lastSeenAt, absoluteExpiresAt } = entry.session;
    if (now > lastSeenAt + entry.idleMs || now > absoluteExpiresAt) {
      this.remove(partition, id);
      return undefined;
    }
    return entry;
  }

  private remove(partition: string, id: string): boolean {
    const entry = this.sessions.get(id);
    if (!entry || entry.session.partition !== partition) return false;
    this.sessions.delete(id);
    const ids = this.partitions.get(partition);
    ids?.delete(id);
    if (ids?.size === 0) this.partitions.delete(partition);
    return true;
  }
}
