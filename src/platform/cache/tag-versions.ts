import type { CacheEntry } from './cache.store';

const MAX_KNOWN_TAGS = 100_000;

/**
 * The tag versions one instance knows to be current: learnt from the store and kept current by
 * its signals, dropped whenever a signal may have been missed. A plain Map read on every L1 hit;
 * past its bound it is emptied, which only costs store lookups.
 */
export class TagVersions {
  private readonly known = new Map<string, string>();

  constructor(private readonly fetch: (tags: string[]) => Promise<string[]>) {}

  /** The entry's tags are current by what is known here, without asking the store. */
  currentLocally(entry: CacheEntry): boolean {
    for (let i = 0; i < entry.tags.length; i++) {
      if (this.known.get(entry.tags[i]!) !== entry.versions[i]) return false;
    }
    return true;
  }

  async current(entry: CacheEntry): Promise<boolean> {
    if (this.currentLocally(entry)) return true;
    const versions = await this.of(entry.tags);
    return versions.every((version, i) => version === entry.versions[i]);
  }

  /** Current versions: known ones from here, the rest from the store (then known). */
  async of(tags: string[]): Promise<string[]> {
    const versions = tags.map((tag) => this.known.get(tag));
    const unknown = tags.filter((_, i) => versions[i] === undefined);
    if (!unknown.length) return versions as string[];
    const fetched = await this.fetch(unknown);
    unknown.forEach((tag, i) => this.learn(tag, fetched[i]!));
    // After learning: a newer version heard on the channel meanwhile wins over the reply.
    return tags.map((tag, i) => versions[i] ?? this.known.get(tag) ?? fetched[unknown.indexOf(tag)]!);
  }

  /** Versions only move up: a late reply never overwrites a newer version heard on the channel. */
  learn(tag: string, version: string): void {
    const known = this.known.get(tag);
    if (known !== undefined && Number(version) <= Number(known)) return;
    if (known === undefined && this.known.size >= MAX_KNOWN_TAGS) this.known.clear();
    this.known.set(tag, version);
  }

  forget(): void {
    this.known.clear();
  }
}
