// wrk runner: spawns the wrk binary and parses its `--latency` text output.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDefault2xx, statusLuaExpr } from './status.mjs';

export const name = 'wrk';

export function available() {
  return spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status === 0;
}

export function getVersion() {
  const out = spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout || '';
  return /^wrk\s+(\S+)/m.exec(out)?.[1] ?? 'unknown';
}

// Byte-wise decimal escapes: safe for any UTF-8 in LuaJIT/Lua 5.1, which lack \u{...}.
function luaStr(s) {
  let out = '"';
  for (const b of Buffer.from(String(s), 'utf8')) {
    out += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\${b}`;
  }
  return `${out}"`;
}

// Method, headers and body can only be set from Lua. A response() hook is added only
// for non-default expectStatus: it makes wrk parse every response, which costs throughput.
export function buildLua(req) {
  const lines = [`wrk.method = ${luaStr(req.method)}`];
  for (const [k, v] of Object.entries(req.headers ?? {})) lines.push(`wrk.headers[${luaStr(k)}] = ${luaStr(v)}`);
  if (req.body !== undefined) lines.push(`wrk.body = ${luaStr(req.body)}`);
  const count = !isDefault2xx(req.ranges);
  const dynamic = Boolean(req.paths?.length || req.uniqueQuery || req.freshIdempotencyKey);
  if (count || dynamic) {
    lines.push(
      'local threads = {}',
      'bench_threads = 0',
      'function setup(thread) bench_threads = bench_threads + 1; thread:set("bench_tid", bench_threads); table.insert(threads, thread) end',
      'function init(args)',
      '  unexpected = 0',
      '  counter = 0',
      '  math.randomseed(os.time() * 1000 + (bench_tid or 0))',
      '  prefix = tostring(bench_tid or 0) .. "-" .. os.time() .. "-" .. math.random(1000000000)',
      'end',
    );
  }
  if (dynamic) {
    // Rotation over paths, a query parameter that never repeats (a cache key that cannot hit)
    // and a fresh Idempotency-Key per request: built per request, so a little slower than static.
    const paths = req.paths?.length ? req.paths : [new URL(req.url).pathname];
    lines.push(
      `local paths = { ${paths.map(luaStr).join(', ')} }`,
      'function request()',
      '  counter = counter + 1',
      '  local p = paths[(counter - 1) % #paths + 1]',
      req.uniqueQuery ? `  p = p .. "?" .. ${luaStr(req.uniqueQuery)} .. "=" .. prefix .. "-" .. counter` : '',
      req.freshIdempotencyKey ? '  wrk.headers["Idempotency-Key"] = "bench-" .. prefix .. "-" .. counter' : '',
      '  return wrk.format(nil, p)',
      'end',
    );
  }
  if (count) {
    lines.push(
      `function response(status, headers, body) if not (${statusLuaExpr(req.ranges)}) then unexpected = unexpected + 1 end end`,
      'function done(summary, latency, requests)',
      '  local n = 0',
      '  for _, t in ipairs(threads) do n = n + t:get("unexpected") end',
      '  io.write("BENCH_UNEXPECTED " .. n .. "\\n")',
      'end',
    );
  }
  return `${lines.filter(Boolean).join('\n')}\n`;
}

const UNIT_MS = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

export function parseOutput(text) {
  const latency = (pct) => {
    const m = new RegExp(`^\\s*${pct}(?:\\.0+)?%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text);
    if (!m) throw new Error(`wrk output has no ${pct}% latency line:\n${text}`);
    return Number(m[1]) * UNIT_MS[m[2]];
  };
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  if (!rps) throw new Error(`wrk output has no Requests/sec line:\n${text}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const custom = /^BENCH_UNEXPECTED (\d+)/m.exec(text);
  // Without the Lua hook we rely on wrk's own counter, which counts only status >= 400.
  const builtIn = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  return {
    reqPerSec: Number(rps[1]),
    p50Ms: latency(50),
    p99Ms: latency(99),
    unexpected: Number(custom?.[1] ?? builtIn?.[1] ?? 0),
    errors: sock ? sock.slice(1).reduce((a, n) => a + Number(n), 0) : 0,
    total: Number(/(\d+) requests in/.exec(text)?.[1] ?? 0),
  };
}

let active = null; // the running wrk process and its temp dir, for abort()

export async function run(req, durationS, { threads }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-wrk-'));
  active = { dir, proc: null };
  try {
    const script = path.join(dir, 'scenario.lua');
    writeFileSync(script, buildLua(req));
    const t = Math.min(threads, req.connections); // wrk rejects threads > connections
    const args = ['-t', t, '-c', req.connections, '-d', `${durationS}s`, '--latency', '-s', script, req.url];
    const { code, stdout, stderr } = await new Promise((resolve, reject) => {
      const proc = spawn('wrk', args.map(String), { stdio: ['ignore', 'pipe', 'pipe'] });
      active.proc = proc;
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (c) => (stdout += c));
      proc.stderr.on('data', (c) => (stderr += c));
      proc.on('error', reject);
      proc.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    if (code !== 0) throw new Error(`wrk exited with ${code}: ${stderr || stdout}`);
    return parseOutput(stdout);
  } finally {
    active = null;
    rmSync(dir, { recursive: true, force: true });
  }
}

// Called on Ctrl-C/errors: the process exits right after, so run()'s finally may never run.
export function abort() {
  if (!active) return;
  active.proc?.kill('SIGKILL');
  rmSync(active.dir, { recursive: true, force: true });
}
