// Seeding helpers for scenario setup() functions (plain fetch, run once before measuring).

export async function requestJson(baseUrl, method, path, body, expectStatus, headers = {}) {
  const res = await fetch(new URL(path, baseUrl), {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (expectStatus !== undefined && res.status !== expectStatus) {
    throw new Error(`${method} ${path} answered ${res.status} (expected ${expectStatus}): ${text.slice(0, 500)}`);
  }
  return text ? JSON.parse(text) : undefined;
}

// A fresh user with the role, logged in: returns the Authorization header of its session.
export async function signUp(baseUrl, role = 'customer') {
  const email = `bench-${role}-${Math.random().toString(36).slice(2)}@example.com`;
  const password = 'bench password 123';
  await requestJson(baseUrl, 'POST', '/auth/register', { email, password, role }, 201);
  const { token } = await requestJson(baseUrl, 'POST', '/auth/login', { email, password }, 200);
  return { authorization: `Bearer ${token}` };
}

const organizers = new Map();

// One fresh event per call, so scenarios never share (and never mutate) each other's rows.
export async function createEvent(baseUrl, overrides = {}) {
  if (!organizers.has(baseUrl)) organizers.set(baseUrl, await signUp(baseUrl, 'organizer'));
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
    organizers.get(baseUrl),
  );
  if (!event?.id) throw new Error(`POST /events returned no id: ${JSON.stringify(event)}`);
  return event;
}
