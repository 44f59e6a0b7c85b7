import { setTimeout as sleep } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { DiscoveryService, Reflector } from '@nestjs/core';
import { BullRegistrar, type WorkerHost } from '@nestjs/bullmq';
import { Queue, QueueEvents, type Worker } from 'bullmq';
import { RedisService, type RedisClient } from '../redis';
import { BullJobQueue } from './bull-job-queue';
import { ConfiguredWorker } from './configured-worker';
import { MemoryJobQueue, type ProcessJob } from './memory-job-queue';
import { JOB_PROCESSOR, type JobProcessorMetadata } from './queue.decorators';
import { QueueMetrics } from './queue.metrics';
import { bullPrefix, QUEUE_SETTINGS, WORKER_CONNECTION, type QueueSettings } from './queue.module-definition';
import type { EnqueueOptions, JobQueue, QueueDriverKind } from './queue.types';

/** Whether `promise` settled within `ms` (false: it is still pending, and is left to itself). */
async function within(promise: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([Promise.resolve(promise).then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Processor {
  metadata: JobProcessorMetadata;
  instance: WorkerHost;
}

/**
 * Runs the app's named queues on BullMQ when Redis is configured and in process otherwise.
 * Feature modules register queues (`QueueModule.registerQueue`) and processors
 * (`@JobProcessor`); this picks the engine, starts the workers after the app is up (unless
 * workers are disabled), and on shutdown stops taking jobs, lets running ones finish within the
 * grace period and leaves any job it had to cut off to BullMQ's stalled-job recovery.
 */
@Injectable()
export class QueueDriver
  implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new Logger('Queue');
  private readonly queues = new Map<string, BullJobQueue | MemoryJobQueue>();
  private producer?: RedisClient;
  private workers: Worker[] = [];
  private closing?: Promise<unknown>;
  private stopping?: Promise<boolean>;

  constructor(
    @Inject(QUEUE_SETTINGS) private readonly settings: QueueSettings,
    private readonly redis: RedisService,
    private readonly discovery: DiscoveryService,
    private readonly reflector: Reflector,
    private readonly registrar: BullRegistrar,
    private readonly metrics: QueueMetrics,
  ) {
    metrics.countQueues(() => [...this.queues.values()]);
  }

  get kind(): QueueDriverKind {
    return this.redis.configured ? 'bullmq' : 'memory';
  }

  get workersEnabled(): boolean {
    return this.settings.workersEnabled;
  }

  /** A feature module's queue; registering a name twice returns the same queue. */
  register(name: string, defaults: EnqueueOptions): JobQueue {
    const known = this.queues.get(name);
    if (known) return known;
    const queue = this.redis.configured
      ? new BullJobQueue(
          this.quietly(
            new Queue(name, {
              connection: this.producerConnection(),
              prefix: bullPrefix(this.redis.prefix),
              defaultJobOptions: defaults,
            }),
          ),
          this.producerConnection(),
          (lastEventId) =>
            this.quietly(
              new QueueEvents(name, {
                connection: this.redis.createConnection({ maxRetriesPerRequest: null }, 'queue-events'),
                prefix: bullPrefix(this.redis.prefix),
                lastEventId,
              }),
            ),
          this.metrics,
        )
      : new MemoryJobQueue(name, defaults, this.settings.memoryMaxJobs, this.metrics);
    this.queues.set(name, queue);
    return queue;
  }

  get all(): JobQueue[] {
    return [...this.queues.values()];
  }

  /** The BullMQ queues, for the dashboard; none in process. */
  bullQueues(): Queue[] {
    return [...this.queues.values()].flatMap((q) => (q instanceof BullJobQueue ? [q.queue] : []));
  }

  /** Waits (up to the connect timeout) for the producers' connection, so the first enqueues are not refused. */
  async onModuleInit(): Promise<void> {
    const producer = this.producer;
    if (!producer) return;
    void producer.connect().catch(() => undefined);
    const deadline = Date.now() + this.redis.connectTimeoutMs;
    while (producer.status !== 'ready' && Date.now() < deadline) await sleep(10);
  }

  onApplicationBootstrap(): void {
    const processors = this.processors();
    for (const { metadata } of processors) {
      if (!this.queues.has(metadata.queue)) {
        throw new Error(
          `@JobProcessor('${metadata.queue}') has no queue: import QueueModule.registerQueue({ name: '${metadata.queue}' })`,
        );
      }
    }
    if (!this.settings.workersEnabled) {
      this.logger.log(`Workers disabled: this process only enqueues (${this.queues.size} queue(s), ${this.kind})`);
      return;
    }
    if (this.kind === 'bullmq') {
      ConfiguredWorker.defaults = {
        lockDuration: this.settings.lockDurationMs,
        stalledInterval: this.settings.stalledIntervalMs,
      };
      try {
        this.registrar.register();
      } finally {
        ConfiguredWorker.defaults = undefined;
      }
      this.workers = processors.map(({ instance }) => instance.worker);
      for (const worker of this.workers) {
        this.quietly(worker, 'Worker');
        worker.on('completed', () => this.metrics.outcome(worker.name, 'completed'));
        worker.on('failed', (job, error) => {
          const final = !job || error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
          this.metrics.outcome(worker.name, final ? 'failed' : 'retried');
        });
      }
    } else {
      for (const { metadata, instance } of processors) {
        const queue = this.queues.get(metadata.queue) as MemoryJobQueue;
        queue.attach(instance.process.bind(instance) as unknown as ProcessJob, metadata.concurrency);
      }
    }
    this.logger.log(
      `Workers started (${this.kind}): ${processors.map((p) => `${p.metadata.queue}×${p.metadata.concurrency}`).join(', ') || 'none'}`,
    );
  }

  /** SIGTERM: workers stop taking jobs at once; running jobs go on. */
  onModuleDestroy(): void {
    const timeoutMs = this.settings.shutdownTimeoutMs;
    this.closing = Promise.allSettled([
      ...this.workers.map((worker) => worker.close()),
      ...[...this.queues.values()].flatMap((q) => (q instanceof MemoryJobQueue ? [q.close(timeoutMs)] : [])),
    ]);
    // Without Redis a running job can neither finish nor fail: waiting would only delay the exit.
    if (this.workers.length && !this.redis.isReady) this.cutOff();
    this.stopping = within(this.closing, timeoutMs);
  }

  /** Waits for running jobs, up to the grace period; what is cut off is recovered as stalled by another worker. */
  async beforeApplicationShutdown(): Promise<void> {
    if ((await this.stopping) === false) {
      this.logger.warn(
        `Jobs still running after ${this.settings.shutdownTimeoutMs} ms: ` +
          'leaving them to stalled-job recovery by another worker',
      );
      this.cutOff();
    }
    if (!(await within(this.closing, 2000))) {
      for (const worker of this.workers) if (worker instanceof ConfiguredWorker) worker.abandonClose();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    const closing = [...this.queues.values()].map(async (queue) => {
      if (queue instanceof BullJobQueue) {
        await queue.close();
        await queue.queue.close();
      }
    });
    await within(Promise.allSettled(closing), 2000);
    this.producer?.disconnect();
  }

  /**
   * Drops the workers' connection: their pending commands fail, so closing completes; a job
   * still running keeps its lock until the lock expires, then another worker takes it over.
   */
  private cutOff(): void {
    // Processors that take the signal stop their work; their jobs stay active until the lock expires.
    for (const worker of this.workers) worker.cancelAllJobs('shutting down');
    this.redis.endNamed(WORKER_CONNECTION);
  }

  /**
   * BullMQ objects emit 'error' on every failed reconnect; without a listener that would crash
   * the process. One line per distinct error is enough: RedisService reports the outage itself.
   */
  private quietly<T extends Queue | QueueEvents | Worker>(emitter: T, role = emitter.constructor.name): T {
    let last = '';
    (emitter as Queue).on('error', (error: Error) => {
      if (error.message === last) return;
      last = error.message;
      this.logger.warn(`${role} "${emitter.name}": ${error.message}`);
    });
    return emitter;
  }

  private producerConnection(): RedisClient {
    this.producer ??= this.redis.createConnection(
      { enableOfflineQueue: false, commandTimeout: this.settings.commandTimeoutMs, maxRetriesPerRequest: 0 },
      'queue',
    );
    return this.producer;
  }

  private processors(): Processor[] {
    return this.discovery.getProviders().flatMap((wrapper) => {
      const type = wrapper.metatype && !wrapper.inject ? wrapper.metatype : wrapper.instance?.constructor;
      const metadata = type && this.reflector.get<JobProcessorMetadata | undefined>(JOB_PROCESSOR, type);
      return metadata && wrapper.instance ? [{ metadata, instance: wrapper.instance as WorkerHost }] : [];
    });
  }
}
