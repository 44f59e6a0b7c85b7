import { RedisService } from '../redis';
import type { CacheCodec } from './cache.service';

/** A cached HTTP response: what is needed to send it again and to answer a conditional GET. */
export interface HttpEntry {
  status: number;
  type: string;
  /** Strong validator, quoted. */
  etag: string;
  body: string;
}

/** Three header lines, then the body verbatim. */
export const HTTP_ENTRY_CODEC: CacheCodec<HttpEntry> = {
  encode: (entry) => `${entry.status}\n${entry.type}\n${entry.etag}\n${entry.body}`,
  decode(payload) {
    const a = payload.indexOf('\n');
    const b = payload.indexOf('\n', a + 1);
    const c = payload.indexOf('\n', b + 1);
    return {
      status: Number(payload.slice(0, a)),
      type: payload.slice(a + 1, b),
      etag: payload.slice(b + 1, c),
      body: payload.slice(c + 1),
    };
  },
};

export function httpEntryOf(value: unknown, status: number): HttpEntry {
  const body = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return { status, type: 'application/json; charset=utf-8', etag: `"${RedisService.hashKeyPart(body)}"`, body };
}

/** RFC 9110 §13.1.2: weak comparison, a list of tags or `*`. */
export function ifNoneMatchHits(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const opaque = etag.replace(/^W\//, '');
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === opaque);
}
