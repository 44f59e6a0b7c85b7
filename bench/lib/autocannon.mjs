// autocannon runner (in-process; used when wrk is absent or BENCH_TOOL=autocannon).
import { createRequire } from 'node:module';
import autocannon from 'autocannon';
import { statusMatches } from './status.mjs';

export const name = 'autocannon';
export const getVersion = () => createRequire(import.meta.url)('autocannon/package.json').version;

// Nearest-rank percentile over raw samples.
function percentile(sorted, p) {
  return sorted.length ? sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] : 0;
}

let counter = 0;
const prefix = `${process.pid}-${Date.now()}`;

export async function run(req, durationS) {
  const instance = autocannon({
    url: req.url,
    method: req.method,
    headers: req.headers,
    body: req.body,
    connections: req.connections,
    pipelining: 1,
    duration: durationS,
    // Rotation over paths, a never-repeating query parameter, a fresh Idempotency-Key: per request.
    ...(req.paths?.length || req.uniqueQuery || req.freshIdempotencyKey
      ? {
          requests: [
            {
              setupRequest: (request) => {
                const n = (counter += 1);
                const paths = req.paths?.length ? req.paths : [new URL(req.url).pathname];
                let p = paths[(n - 1) % paths.length];
                if (req.uniqueQuery) p += `?${req.uniqueQuery}=${prefix}-${n}`;
                const headers = { ...request.headers };
                if (req.freshIdempotencyKey) headers['idempotency-key'] = `bench-${prefix}-${n}`;
                return { ...request, path: p, headers };
              },
            },
          ],
        }
      : {}),
  });
  // autocannon's own latency histogram is integer-ms (p50 "0 ms" for fast routes), so keep
  // the raw float responseTime of every response and compute percentiles ourselves.
  const samples = [];
  instance.on('response', (_client, _status, _bytes, responseTime) => samples.push(responseTime));
  const r = await instance;
  const sorted = Float64Array.from(samples).sort();
  // statusCodeStats lets us honour expectStatus instead of autocannon's fixed non2xx.
  let unexpected = 0;
  for (const [code, { count }] of Object.entries(r.statusCodeStats)) {
    if (!statusMatches(req.ranges, Number(code))) unexpected += count;
  }
  return {
    reqPerSec: r.requests.average,
    p50Ms: sorted.length ? percentile(sorted, 50) : r.latency.p50,
    p99Ms: sorted.length ? percentile(sorted, 99) : r.latency.p99,
    unexpected,
    errors: r.errors, // includes timeouts
    total: r.requests.total,
  };
}

export function abort() {
  // Nothing to do: the in-process run dies with us.
}
