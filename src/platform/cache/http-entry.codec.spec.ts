import { HTTP_ENTRY_CODEC, httpEntryOf, ifNoneMatchHits } from './http-entry.codec';

describe('HTTP entry codec', () => {
  it('round-trips status, type, ETag and a body with newlines', () => {
    const entry = httpEntryOf({ text: 'two\nlines', n: 1 }, 200);
    expect(HTTP_ENTRY_CODEC.decode(HTTP_ENTRY_CODEC.encode(entry))).toEqual(entry);
    expect(entry).toMatchObject({
      status: 200,
      type: 'application/json; charset=utf-8',
      body: '{"text":"two\\nlines","n":1}',
    });
  });

  it('gives equal bodies equal strong ETags and different bodies different ones', () => {
    expect(httpEntryOf({ a: 1 }, 200).etag).toBe(httpEntryOf({ a: 1 }, 200).etag);
    expect(httpEntryOf({ a: 1 }, 200).etag).not.toBe(httpEntryOf({ a: 2 }, 200).etag);
    expect(httpEntryOf({ a: 1 }, 200).etag).toMatch(/^"[\w-]{22}"$/);
  });

  it.each([
    ['"abc"', true],
    ['W/"abc"', true],
    ['"x", "abc"', true],
    ['"x",W/"abc" ', true],
    ['*', true],
    ['"abcd"', false],
    ['abc', false],
    ['', false],
  ])('If-None-Match %p matches "abc": %p (weak comparison)', (header, hit) => {
    expect(ifNoneMatchHits(header, '"abc"')).toBe(hit);
  });
});
