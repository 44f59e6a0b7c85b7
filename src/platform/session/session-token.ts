import * as crypto from 'node:crypto';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// One-shot hashing (Node >= 20.12, below the engines floor; @types/node 20 does not declare it):
// no Hash object per call, which matters on a path taken by every authenticated request.
const oneShot = (crypto as unknown as { hash?: (algorithm: string, data: string, encoding: 'base64url') => string })
  .hash;

/**
 * A session token is `<partition>.<secret>.<mac>`:
 * - partition: 22 base64url characters, a hash of the user id (the Redis hash tag of the user's keys);
 * - secret: 32 bytes (256 bits) from the CSPRNG;
 * - mac: HMAC-SHA-256 of the first two parts under the server key, truncated to 128 bits, so a
 *   malformed or forged token is refused before any store is touched.
 * The store keeps only SHA-256 of the whole token.
 */
const TOKEN = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{22})$/;
export const MAX_TOKEN_LENGTH = 89;

export interface ParsedToken {
  token: string;
  partition: string;
  /** SHA-256 of the token: the session id in the store. */
  id: string;
}

export class SessionTokens {
  constructor(private readonly key: string) {}

  static partitionOf(userId: string): string {
    return createHash('sha256').update(`user:${userId}`).digest('base64url').slice(0, 22);
  }

  static idOf(token: string): string {
    return oneShot ? oneShot('sha256', token, 'base64url') : createHash('sha256').update(token).digest('base64url');
  }

  issue(userId: string): ParsedToken {
    const partition = SessionTokens.partitionOf(userId);
    const body = `${partition}.${randomBytes(32).toString('base64url')}`;
    const token = `${body}.${this.mac(body)}`;
    return { token, partition, id: SessionTokens.idOf(token) };
  }

  /** The token's parts when it is well formed and carries our MAC; null otherwise. */
  parse(token: string): ParsedToken | null {
    if (token.length !== MAX_TOKEN_LENGTH) return null;
    const match = TOKEN.exec(token);
    if (!match) return null;
    const expected = Buffer.from(this.mac(`${match[1]}.${match[2]}`));
    const given = Buffer.from(match[3]!);
    if (!timingSafeEqual(expected, given)) return null;
    return { token, partition: match[1]!, id: SessionTokens.idOf(token) };
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest().subarray(0, 16).toString('base64url');
  }
}
