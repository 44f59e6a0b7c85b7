import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { BullModule } from '@nestjs/bullmq';
import { MetricsService } from '../http';
import { RedisService } from '../redis';
import { ConfiguredWorker } from './configured-worker';
import { JobsController } from './jobs.controller';
import { getJobQueueToken } from './queue.decorators';
import { QueueDashboard } from './queue.dashboard.provider';
import { QueueDriver } from './queue.driver';
import { QueueHealthIndicator } from './queue.health';
import { QueueMetrics } from './queue.metrics';
import {
  bullPrefix,
  QUEUE_DEFAULTS,
  QUEUE_MODULE_OPTIONS,
  QUEUE_SETTINGS,
  QueueConfigurableModule,
  type QueueModuleOptions,
  type QueueSettings,
  workerConnection,
} from './queue.module-definition';
import type { EnqueueOptions } from './queue.types';

BullModule.workerClass = ConfiguredWorker;

export interface RegisterQueueOptions {
  name: string;
  /** Options every job of this queue starts from (attempts, backoff, retention, …). */
  defaultJobOptions?: EnqueueOptions;
}

/**
 * Queues on @nestjs/bullmq and BullMQ with an in-process fallback. `forRoot` once in the app;
 * `registerQueue({ name })` in each feature module that enqueues; processors are providers
 * decorated with `@JobProcessor(name)` extending `WorkerHost`.
 */
@Module({})
export class QueueModule extends QueueConfigurableModule {
  static override forRoot(options: QueueModuleOptions = {}): DynamicModule {
    const base = super.forRoot(options);
    return {
      ...base,
      global: true,
      imports: [
        DiscoveryModule,
        TerminusModule,
        // Registration is manual: QueueDriver starts workers only when they are enabled.
        BullModule.forRootAsync({
          inject: [RedisService],
          // Without Redis no worker is registered, so no connection is needed.
          useFactory: (redis: RedisService) => ({
            connection: redis.configured ? workerConnection(redis) : {},
            prefix: bullPrefix(redis.prefix),
          }),
          extraOptions: { manualRegistration: true },
        }),
        BullModule.registerQueue(),
      ],
      controllers: options.statusRoutes === false ? [] : [JobsController],
      providers: [
        ...(base.providers ?? []),
        {
          provide: QUEUE_SETTINGS,
          inject: [QUEUE_MODULE_OPTIONS],
          useFactory: (opts: QueueModuleOptions): QueueSettings => ({ ...QUEUE_DEFAULTS, ...opts }),
        },
        {
          provide: QueueMetrics,
          inject: [{ token: MetricsService, optional: true }],
          useFactory: (metrics?: MetricsService) => new QueueMetrics(metrics?.registry),
        },
        QueueDriver,
        QueueHealthIndicator,
        QueueDashboard,
      ],
      exports: [QueueDriver, QueueHealthIndicator],
    };
  }

  /** A named queue for a feature module: inject it with `@InjectJobQueue(name)`. */
  static registerQueue(...queues: RegisterQueueOptions[]): DynamicModule {
    const providers = queues.map(({ name, defaultJobOptions = {} }) => ({
      provide: getJobQueueToken(name),
      inject: [QueueDriver],
      useFactory: (driver: QueueDriver) => driver.register(name, defaultJobOptions),
    }));
    return { module: QueueModule, providers, exports: providers.map((p) => p.provide) };
  }
}
