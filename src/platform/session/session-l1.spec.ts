import { SessionL1 } from './session-l1';
import type { SessionRecord } from './session.store';

const BOUND = 1000;

function entry(id: string, verifiedAt: number, partition = 'p') {
  const session: SessionRecord = {
    id,
    partition,
    userId: 'u',
    email: null,
    roles: [],
    createdAt: 0,
    lastSeenAt: 0,
    absoluteExpiresAt: Number.MAX_SAFE_INTEGER,
    userAgent: null,
    ip: null,
  };
  return { session, user: { id: 'u', roles: [] }, verifiedAt };
}

describe('SessionL1', () => {
  let coverage: { since: number; upTo: number };
  let l1: SessionL1;

  beforeEach(() => {
    coverage = { since: Infinity, upTo: 0 };
    l1 = new SessionL1(100, BOUND, () => coverage);
  });

  it('without a live channel trusts an entry for the bound after its verification only', () => {
    l1.set(entry('a', 10_000), l1.revocations);
    expect(l1.trusted('a', 10_000 + BOUND)).toBeDefined();
    expect(l1.trusted('a', 10_001 + BOUND)).toBeUndefined();
  });

  it('with a live channel trusts it up to the bound after the last proof of delivery', () => {
    coverage = { since: 9_000, upTo: 50_000 };
    l1.set(entry('a', 10_000), l1.revocations);
    expect(l1.trusted('a', 50_000 + BOUND)).toBeDefined();
    expect(l1.trusted('a', 50_001 + BOUND)).toBeUndefined();
  });

  it('an entry verified before the current subscription gets no credit from it (it may have missed a message)', () => {
    coverage = { since: 20_000, upTo: 50_000 };
    l1.set(entry('a', 10_000), l1.revocations);
    expect(l1.trusted('a', 10_000 + BOUND + 1)).toBeUndefined();
  });

  it('does not keep a read that a revocation overtook, and revocations drop entries by id or partition', () => {
    const before = l1.revocations;
    l1.delete(['x']);
    l1.set(entry('a', 10_000), before);
    expect(l1.peek('a')).toBeUndefined();

    for (const [id, partition] of [
      ['b', 'p'],
      ['c', 'p'],
      ['d', 'q'],
    ] as const) {
      l1.set(entry(id, 10_000, partition), l1.revocations);
    }
    l1.deletePartition('p', 'c');
    expect([l1.peek('b'), l1.peek('c'), l1.peek('d')].map((e) => e?.session.id)).toEqual([undefined, 'c', 'd']);
    l1.delete(['c']);
    expect(l1.size).toBe(1);
  });
});
