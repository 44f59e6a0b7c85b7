// The benchmark scenarios. Append new entries at the end; see bench/README.md.
//
// Shape: {
//   name,                        unique; BENCH_FILTER matches on it (substring)
//   method,                      'GET' | 'POST' | ...
//   path | (ctx) => path,        ctx = whatever setup() returned
//   headers?, body?,             value or (ctx) => value; an object body is sent as JSON
//   setup?: async (baseUrl) => ctx,   seeding, run once before the first round
//   expectStatus?,               201 | '2xx' | [200, 304] (default '2xx'); others count as non-2xx
//   target?: { minRatioTo: 'bare', min: 0.9 },   req/s ratio to another scenario; PASS/FAIL
//   baseline?: 'bare',           marks THE reference scenario (exactly one): runs first,
//                                ignores BENCH_FILTER, denominator of the "ratio to bare" column
// }
import { createEvent, signUp } from './lib/seed.mjs';

export const scenarios = [
  {
    name: 'bare',
    baseline: 'bare',
    method: 'GET',
    path: '/__bench/bare',
  },
  {
    name: 'events.get uncached',
    method: 'GET',
    setup: (baseUrl) => createEvent(baseUrl),
    path: (event) => `/events/${event.id}`,
  },
  {
    // The session guard's cost: one token check and one store round trip (touch) per request.
    name: 'authenticated GET',
    method: 'GET',
    setup: (baseUrl) => signUp(baseUrl),
    path: '/__bench/authenticated',
    headers: (auth) => auth,
  },
];
