import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { RedisService } from '../redis';

export interface QueueModuleOptions {
  /** Run processors in this process. False makes a producer-only process (web pods). Default true. */
  workersEnabled?: boolean;
  /** BullMQ job lock: a worker that stops renewing it for this long has its job recovered as stalled. Default 30 s. */
  lockDurationMs?: number;
  /** How often each worker looks for stalled jobs. Default 30 s. */
  stalledIntervalMs?: number;
  /** On shutdown, how long running jobs may take to finish; past it they are left to stall recovery. Default 15 s. */
  shutdownTimeoutMs?: number;
  /** Timeout of the producer's commands (add, status reads); past it the request answers 503. Default 1000 ms. */
  commandTimeoutMs?: number;
  /** Most unfinished jobs per queue in process (Redis not configured); past it enqueue answers 503. Default 10,000. */
  memoryMaxJobs?: number;
  /** Where Bull Board is mounted (Redis only), or false for none. Default `/admin/queues`. */
  dashboardPath?: string | false;
  /** The role a session needs to open the dashboard. Default `admin`. */
  dashboardRole?: string;
  /** Mount `GET /jobs/:id` and `GET /jobs/:id/events` (they need SessionModule for the owner check). Default true. */
  statusRoutes?: boolean;
}

export const { ConfigurableModuleClass: QueueConfigurableModule, MODULE_OPTIONS_TOKEN: QUEUE_MODULE_OPTIONS } =
  new ConfigurableModuleBuilder<QueueModuleOptions>({ moduleName: 'Queue' }).setClassMethodName('forRoot').build();

export const QUEUE_DEFAULTS = {
  workersEnabled: true,
  lockDurationMs: 30_000,
  stalledIntervalMs: 30_000,
  shutdownTimeoutMs: 15_000,
  commandTimeoutMs: 1000,
  memoryMaxJobs: 10_000,
  dashboardPath: '/admin/queues',
  dashboardRole: 'admin',
  statusRoutes: true,
} satisfies Required<QueueModuleOptions>;

export type QueueSettings = Required<QueueModuleOptions>;

/** The options with their defaults applied. */
export const QUEUE_SETTINGS = Symbol('QUEUE_SETTINGS');

/** BullMQ keys live under the app prefix, in one hash slot so multi-key scripts work on Cluster. */
export const bullPrefix = (appPrefix: string) => `${appPrefix}{bull}`;

/**
 * The workers' shared connection: BullMQ's required settings (no per-command retry limit; the
 * offline queue on, so a worker rides out a Redis restart), apart from the request-path client.
 */
export const WORKER_CONNECTION = 'bullmq-workers';
export const workerConnection = (redis: RedisService) =>
  redis.namedConnection(WORKER_CONNECTION, { maxRetriesPerRequest: null });
