// Seeding helpers for scenario setup() functions (plain fetch, run once before measuring).

export async function requestJson(baseUrl, method, path, body, expectStatus) {
  const res = await fetch(new URL(path, baseUrl), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (expectStatus !== undefined && res.status !== expectStatus) {
    throw new Error(`${method} ${path} answered ${res.status} (expected ${expectStatus}): ${text.slice(0, 500)}`);
  }
  return text ? JSON.parse(text) : undefined;
}

// One fresh event per call, so scenarios never share (and never mutate) each other's rows.
export async function createEvent(baseUrl, overrides = {}) {
  const startsAt = new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString();
  const event = await requestJson(
    baseUrl,
    'POST',
    '/events',
    {
      title: 'Bench night',
      venue: 'Hall A',
      startsAt,
      capacity: 500,
      priceCents: 2500,
      currency: 'EUR',
      ...overrides,
    },
    201,
  );
  if (!event?.id) throw new Error(`POST /events returned no id: ${JSON.stringify(event)}`);
  return event;
}
