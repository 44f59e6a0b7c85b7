import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory';
import { loadConfig } from '../../src/config';

/** Rate limits no functional test reaches; the throttling suites set their own. */
export const RELAXED_RATE_LIMITS: Record<string, string> = {
  THROTTLE_PUBLIC_LIMIT: '999999999',
  THROTTLE_API_LIMIT: '999999999',
  THROTTLE_AUTH_LIMIT: '999999999',
  THROTTLE_PAYMENT_LIMIT: '999999999',
  THROTTLE_EXPORTS_LIMIT: '999999999',
};

/** Settings every in-process test app shares; each test adds its own. */
export const BASE_TEST_ENV: Record<string, string> = {
  ...RELAXED_RATE_LIMITS,
  NODE_ENV: 'test',
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
  BENCH_ROUTES: 'true',
};

export interface RunningApp {
  app: NestFastifyApplication;
  url: string;
  close(): Promise<void>;
}

/** Builds and starts the real app in this process, on a free port, with the given environment only. */
export async function startApp(env: Record<string, string | undefined>): Promise<RunningApp> {
  const config = loadConfig({ ...BASE_TEST_ENV, ...env });
  const app = await createApp(config);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = await app.getUrl();
  let closed = false;
  return {
    app,
    url: url.replace('[::1]', '127.0.0.1'),
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}
