import { applyDecorators, Inject, SetMetadata } from '@nestjs/common';
import { Processor } from '@nestjs/bullmq';

export const JOB_PROCESSOR = 'box-office:job-processor';

export interface JobProcessorOptions {
  /** Jobs this processor runs at once in one process. Default 1. */
  concurrency?: number;
}

export interface JobProcessorMetadata extends Required<JobProcessorOptions> {
  queue: string;
}

/**
 * Marks a provider (a class extending `WorkerHost`) as the processor of a queue. It is
 * @nestjs/bullmq's `@Processor`, so with Redis BullMQ workers run it; without Redis the
 * in-process driver runs the same `process(job)` with the same retry and backoff options.
 */
export function JobProcessor(queue: string, options: JobProcessorOptions = {}): ClassDecorator {
  const metadata: JobProcessorMetadata = { queue, concurrency: options.concurrency ?? 1 };
  return applyDecorators(Processor(queue, { concurrency: metadata.concurrency }), SetMetadata(JOB_PROCESSOR, metadata));
}

export const getJobQueueToken = (name: string) => `box-office:job-queue:${name}`;

/** Injects the `JobQueue` of a queue registered with `QueueModule.registerQueue({ name })`. */
export const InjectJobQueue = (name: string) => Inject(getJobQueueToken(name));
