export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/**
 * Reads a Server-Sent Events stream until the server ends it (or `timeoutMs`), and returns the
 * response status, headers and every event; a non-2xx answer is returned with its body instead.
 */
export async function readSse(
  url: string,
  headers: Record<string, string>,
  timeoutMs = 15_000,
): Promise<{ status: number; headers: Headers; events: SseEvent[]; body: string }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
    const events: SseEvent[] = [];
    if (!res.ok || !res.body) return { status: res.status, headers: res.headers, events, body: await res.text() };
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: SseEvent = { event: 'message', data: '' };
          const data: string[] = [];
          for (const line of block.split('\n')) {
            const colon = line.indexOf(':');
            if (colon === 0) continue;
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event') event.event = value;
            else if (field === 'data') data.push(value);
            else if (field === 'id') event.id = value;
          }
          event.data = data.join('\n');
          events.push(event);
        }
      }
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    }
    return { status: res.status, headers: res.headers, events, body: '' };
  } finally {
    clearTimeout(timer);
  }
}
