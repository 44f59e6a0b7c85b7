import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { RELAXED_RATE_LIMITS } from './app';

const ROOT = join(__dirname, '..', '..');
export const BUILT_MAIN = join(ROOT, 'dist', 'src', 'main.js');

export interface ChildApp {
  proc: ChildProcess;
  url: string;
  /** Every line the process wrote to stdout and stderr so far. */
  output: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

interface SpawnOptions {
  env: Record<string, string>;
  cwd?: string;
  /** Keep the parent's environment (PATH is always kept). Default false: the child sees only `env`. */
  inheritEnv?: boolean;
  timeoutMs?: number;
}

/** Runs the built server (`node dist/src/main.js`) as its own process, the way production does. */
export function spawnServer(options: SpawnOptions): ChildProcess & { output: string[] } {
  const base = options.inheritEnv ? process.env : { PATH: process.env.PATH ?? '' };
  const proc = spawn(process.execPath, [BUILT_MAIN], {
    cwd: options.cwd ?? ROOT,
    env: { ...base, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as ChildProcess & { output: string[] };
  proc.output = [];
  const collect = (chunk: Buffer) => proc.output.push(...chunk.toString().split('\n').filter(Boolean));
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  return proc;
}

/** Starts the built server and waits until it listens; the port comes from its own log line. */
export async function startChildApp(options: SpawnOptions): Promise<ChildApp> {
  const proc = spawnServer({
    ...options,
    env: { HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...RELAXED_RATE_LIMITS, ...options.env },
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start:\n${proc.output.join('\n')}`)),
      options.timeoutMs ?? 30_000,
    );
    const onData = () => {
      const match = proc.output.join('\n').match(/listening on (http:\/\/[^\s"]+)/);
      if (match) {
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        resolve(match[1]!.replace('[::1]', '127.0.0.1'));
      }
    };
    proc.stdout!.on('data', onData);
    void exit.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${proc.output.join('\n')}`));
    });
  });
  return {
    proc,
    url,
    output: proc.output,
    exit,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await exit;
      }
    },
  };
}
