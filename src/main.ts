import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { ConfigError, loadConfig, type AppConfig } from './config';

function readConfig(): AppConfig {
  if (existsSync('.env')) process.loadEnvFile('.env');
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\nSee .env.example for every variable and its default.\n`);
    process.exit(1);
  }
}

async function bootstrap(): Promise<void> {
  const config = readConfig();
  const app = await createApp(config);
  // SIGTERM: readiness turns 503, the server serves on for SHUTDOWN_DRAIN_MS (endpoints
  // propagate), then stops accepting, finishes in-flight requests, closes workers, Redis and the
  // database, and exits 0. A shutdown that overruns its grace period exits 1.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  const onSignal = (signal: string) => {
    // Only SIGTERM (a rollout) drains; SIGINT (a developer's Ctrl-C) closes at once.
    const drainMs = signal === 'SIGTERM' ? config.SHUTDOWN_DRAIN_MS : 0;
    const logger = new Logger('Shutdown');
    const startedAt = Date.now();
    logger.log(`${signal} received: readiness 503, draining for ${drainMs} ms`);
    // The last line of the process (the logger writes synchronously): how long the shutdown took.
    process.once('exit', (code) => logger.log(`Shutdown complete in ${Date.now() - startedAt} ms (exit code ${code})`));
    setTimeout(() => {
      logger.error(`Shutdown exceeded ${config.SHUTDOWN_TIMEOUT_MS} ms; exiting`);
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS).unref();
  };
  process.once('SIGTERM', onSignal).once('SIGINT', onSignal);
  await app.listen({ port: config.PORT, host: config.HOST });
  const url = await app.getUrl();
  new Logger('Bootstrap').log(`Box Office listening on ${url} (${config.NODE_ENV}) · ${describeSetup(config, url)}`);
}

/** The start-up banner's second half: where the docs are and what the process runs on (no secrets). */
function describeSetup(config: AppConfig, url: string): string {
  const database = config.DATABASE_URL
    ? `PostgreSQL ${hostOf(config.DATABASE_URL)}${new URL(config.DATABASE_URL).pathname}`
    : `PGlite ${config.PGLITE_DATA_DIR}`;
  const redis = config.REDIS_CLUSTER_NODES
    ? `Redis Cluster (${config.REDIS_CLUSTER_NODES.length} seed nodes)`
    : config.REDIS_SENTINELS
      ? `Redis via Sentinel (${config.REDIS_SENTINEL_NAME})`
      : config.REDIS_URL
        ? `Redis ${hostOf(config.REDIS_URL)}`
        : 'Redis not configured (in-process stores)';
  const redisConfigured = Boolean(config.REDIS_CLUSTER_NODES || config.REDIS_SENTINELS || config.REDIS_URL);
  const queues = `queues ${redisConfigured ? 'BullMQ' : 'in process'}${config.WORKERS_ENABLED ? '' : ' (workers off)'}`;
  const docs = config.DOCS_ENABLED ? `docs ${url.replace(/\/$/, '')}/docs · ` : '';
  return `${docs}database ${database} · ${redis} · ${queues}`;
}

/** `host:port` of a connection URL, never its credentials. */
const hostOf = (connection: string) => {
  const { protocol, host } = new URL(connection);
  return `${protocol === 'rediss:' ? 'rediss://' : ''}${host}`;
};

void bootstrap().catch((error: unknown) => {
  process.stderr.write(
    `Box Office failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
