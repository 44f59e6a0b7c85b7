import {
  BadRequestException,
  ConflictException,
  Controller,
  DefaultValuePipe,
  HttpCode,
  Logger,
  ParseIntPipe,
  Post,
  Query,
  type OnModuleDestroy,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Queue, Worker, type Job } from 'bullmq';
import { InjectJobQueue, JobProcessor, QueueDriver, WorkerHost, type JobQueue } from '../platform/queue';
import { RedisService, type RedisClient } from '../platform/redis';
import { Public } from '../platform/session';
import { SkipThrottle } from '../platform/throttler';
import { measureLatency, measureThroughput, type BenchJobData, type BenchTarget } from './queue-bench.measure';

export const BENCH_QUEUE = 'bench';
/** The reference: BullMQ used directly, on the same Redis, under the same key prefix. */
export const BENCH_DIRECT_QUEUE = 'bench-direct';
const CONCURRENCY = 8;
/** The same options on both sides; retention as the enqueue route uses it. */
const JOB_OPTIONS = { removeOnComplete: 1000, removeOnFail: 1000 };

/** A job that does nothing: what is measured is the queue's own cost. */
@JobProcessor(BENCH_QUEUE, { concurrency: CONCURRENCY })
export class BenchNoopProcessor extends WorkerHost {
  async process(): Promise<{ ok: true }> {
    return { ok: true };
  }
}

/** Completions heard from a worker in this process: the same observer for ours and for BullMQ direct. */
function workerTarget(worker: Worker, add: (data: BenchJobData) => Promise<unknown>): BenchTarget {
  return {
    add,
    listen(onCompleted) {
      const listener = (job: Job) => onCompleted(job.data as BenchJobData);
      worker.on('completed', listener);
      return () => worker.off('completed', listener);
    },
  };
}

/**
 * In process there is no worker to listen to: the queue's own events are the signal. `watch`
 * needs the job id before `add`, and a caller-chosen id costs nothing here (one map lookup).
 */
function watchedTarget(queue: JobQueue): BenchTarget {
  const listeners = new Set<(data: BenchJobData) => void>();
  return {
    async add(data) {
      const jobId = `${data.run}-${data.i}`;
      const stop = await queue.watch(jobId, (event) => {
        if (event.type !== 'completed') return;
        stop();
        for (const listener of listeners) listener(data);
      });
      await queue.add('noop', data, { ...JOB_OPTIONS, jobId });
    },
    listen(onCompleted) {
      listeners.add(onCompleted);
      return () => listeners.delete(onCompleted);
    },
  };
}

interface Direct {
  queue: Queue;
  worker: Worker;
  connections: RedisClient[];
}

/**
 * Reference routes for queues (BENCH_ROUTES=true only): public, so enqueueing can be shown and
 * measured without a session in the way.
 */
@ApiExcludeController()
@Public()
@SkipThrottle()
@Controller('__bench/queue')
export class QueueBenchController implements OnModuleDestroy {
  private readonly logger = new Logger('QueueBench');
  private direct?: Promise<Direct>;
  private closing?: Promise<void>;
  private busy = false;

  constructor(
    @InjectJobQueue(BENCH_QUEUE) private readonly queue: JobQueue,
    private readonly processor: BenchNoopProcessor,
    private readonly driver: QueueDriver,
    private readonly redis: RedisService,
  ) {}

  /** Enqueues one no-op job: 202 with it, or 503 problem+json when the queue cannot store it. */
  @Post('enqueue')
  @HttpCode(202)
  async enqueue() {
    return this.queue.add('noop', {}, { removeOnComplete: 1000, removeOnFail: 1000 });
  }

  /**
   * Enqueue-to-complete of no-op jobs, timed in this process: `driver=ours` goes through the
   * app's `JobQueue` and its worker, `driver=bullmq` through a plain BullMQ Queue and Worker.
   * `warmup` jobs of the same mode run first, unmeasured. One measurement at a time.
   */
  @Post('measure')
  @HttpCode(200)
  async measure(
    @Query('driver') driver: string,
    @Query('mode') mode: string,
    @Query('jobs', new DefaultValuePipe(500), ParseIntPipe) jobs: number,
    @Query('warmup', new DefaultValuePipe(50), ParseIntPipe) warmup: number,
    @Query('window', new DefaultValuePipe(64), ParseIntPipe) window: number,
  ) {
    if (driver !== 'ours' && driver !== 'bullmq') throw new BadRequestException('driver must be ours or bullmq');
    if (mode !== 'latency' && mode !== 'throughput')
      throw new BadRequestException('mode must be latency or throughput');
    if (jobs < 1 || jobs > 1_000_000 || warmup < 0 || window < 1)
      throw new BadRequestException('jobs, warmup or window out of range');
    if (driver === 'bullmq' && !this.redis.configured) throw new BadRequestException('driver=bullmq needs Redis');
    // Two runs at once would share the CPU and the workers: both results would be wrong.
    if (this.busy) throw new ConflictException('a queue measurement is already running');
    this.busy = true;
    try {
      const target = driver === 'ours' ? this.ours() : await this.bullmq();
      const run = (n: number) =>
        mode === 'latency' ? measureLatency(target, n) : measureThroughput(target, n, window);
      if (warmup > 0) await run(warmup);
      const engine = driver === 'ours' ? this.driver.kind : 'bullmq';
      return { driver, engine, concurrency: CONCURRENCY, warmup, ...(await run(jobs)) };
    } finally {
      this.busy = false;
    }
  }

  onModuleDestroy(): Promise<void> {
    this.closing ??= (async () => {
      const direct = await this.direct?.catch(() => undefined);
      if (!direct) return;
      // Force: nothing runs at shutdown, and a closing app should not wait on a bench worker.
      await Promise.allSettled([direct.worker.close(true), direct.queue.close()]);
      for (const connection of direct.connections) connection.disconnect();
    })();
    return this.closing;
  }

  private ours(): BenchTarget {
    if (this.driver.kind === 'memory') return watchedTarget(this.queue);
    return workerTarget(this.processor.worker, (data) => this.queue.add('noop', data, JOB_OPTIONS));
  }

  private async bullmq(): Promise<BenchTarget> {
    if (!this.direct) {
      this.direct = this.openDirect();
      this.direct.catch(() => (this.direct = undefined)); // a failed start may be retried
    }
    const { queue, worker } = await this.direct;
    return workerTarget(worker, (data) => queue.add('noop', data, JOB_OPTIONS));
  }

  /**
   * Connections as BullMQ's docs set them: the producer fails fast instead of queueing commands
   * offline; the worker's has no per-command retry limit. The key prefix follows the queue
   * module's convention (`<app prefix>{bull}`), so the run's cleanup removes these keys too.
   */
  private async openDirect(): Promise<Direct> {
    const producer = this.redis.createConnection({ enableOfflineQueue: false });
    const consumer = this.redis.createConnection({ maxRetriesPerRequest: null });
    const prefix = `${this.redis.prefix}{bull}`;
    const queue = new Queue(BENCH_DIRECT_QUEUE, { connection: producer, prefix });
    const worker = new Worker(BENCH_DIRECT_QUEUE, async () => ({ ok: true }), {
      connection: consumer,
      prefix,
      concurrency: CONCURRENCY,
    });
    for (const emitter of [queue, worker]) {
      (emitter as Queue).on('error', (error: Error) => this.logger.warn(`${BENCH_DIRECT_QUEUE}: ${error.message}`));
    }
    await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
    return { queue, worker, connections: [producer, consumer] };
  }
}
