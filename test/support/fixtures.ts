export const PROBLEM_JSON = 'application/problem+json; charset=utf-8';

/** An ISO instant `days` from now. */
export const future = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

/** A valid POST /events body. */
export const eventBody = (overrides: Record<string, unknown> = {}) => ({
  title: 'Jazz night',
  venue: 'Hall A',
  startsAt: future(30),
  capacity: 100,
  priceCents: 2500,
  currency: 'EUR',
  ...overrides,
});
