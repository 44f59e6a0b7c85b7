// Starts the app under test as a child process and stops it reliably.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const TAIL_LINES = 200;

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Keeps the last TAIL_LINES lines of child output: enough to explain a crash
// without flooding the console during measured runs.
function lineTail() {
  const lines = [];
  const partial = { out: '', err: '' };
  const push = (stream, chunk) => {
    const parts = (partial[stream] + chunk).split('\n');
    partial[stream] = parts.pop();
    for (const line of parts) {
      lines.push(stream === 'err' ? `[stderr] ${line}` : line);
      if (lines.length > TAIL_LINES) lines.shift();
    }
  };
  const read = (n = TAIL_LINES) => {
    const rest = ['out', 'err'].filter((s) => partial[s]).map((s) => partial[s]);
    return [...lines, ...rest].slice(-n).join('\n');
  };
  return { push, read };
}

/**
 * cmd: when set (BENCH_SERVER_CMD), run through a shell; otherwise `node <entry>`, by default
 * `node dist/src/main.js` (a peer app names its own built entry).
 * The child gets its own process group (detached) so that Ctrl-C in the terminal reaches
 * only us, and so stop() can signal the whole group (a shell wrapper and its children).
 */
export function startServer({ cmd, entry = 'dist/src/main.js', cwd, env }) {
  const child = cmd
    ? spawn(cmd, { cwd, env, shell: true, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [entry], {
        cwd,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  const tail = lineTail();
  child.stdout.setEncoding('utf8').on('data', (c) => tail.push('out', c));
  child.stderr.setEncoding('utf8').on('data', (c) => tail.push('err', c));
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
  });
  const isRunning = () => child.exitCode === null && child.signalCode === null && child.pid;
  const signal = (sig) => {
    try {
      process.kill(-child.pid, sig);
      return true;
    } catch {
      return false; // ESRCH: nobody left in the group
    }
  };
  // Signal 0 probes the whole group: with a shell wrapper the leader (sh) can exit on
  // SIGTERM while the real server, its child, is still alive.
  const groupAlive = () => Boolean(child.pid) && signal(0);
  // Last resort if we die without running stop(): 'exit' handlers must be synchronous.
  const onExit = () => groupAlive() && signal('SIGKILL');
  process.on('exit', onExit);

  async function stop() {
    process.off('exit', onExit);
    if (!groupAlive()) return;
    signal('SIGTERM');
    const deadline = Date.now() + 5000;
    while (groupAlive() && Date.now() < deadline) await sleep(100);
    if (groupAlive()) signal('SIGKILL');
    await Promise.race([exited, sleep(1000)]);
  }

  return { child, exited, tail: tail.read, isRunning, stop };
}

export async function waitReady(url, server, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no response yet';
  while (Date.now() < deadline) {
    if (!server.isRunning()) {
      const { code, signal, error } = await server.exited;
      throw new Error(`server exited before ready (code=${code} signal=${signal}${error ? ` ${error.message}` : ''})`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.cause?.code || err.message;
    }
    await sleep(250);
  }
  throw new Error(`server not ready after ${timeoutMs / 1000}s at ${url} (last: ${last})`);
}
