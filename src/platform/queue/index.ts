export { WorkerHost, OnWorkerEvent } from '@nestjs/bullmq';
export { UnrecoverableError } from 'bullmq';
export { QueueModule, type RegisterQueueOptions } from './queue.module';
export { type QueueModuleOptions } from './queue.module-definition';
export { QueueDriver } from './queue.driver';
export { QueueHealthIndicator } from './queue.health';
export { JobProcessor, InjectJobQueue, getJobQueueToken, type JobProcessorOptions } from './queue.decorators';
export { QueueUnavailableError, QueueFullError, jobNotFound } from './queue.errors';
export {
  type QueueJob,
  type JobQueue,
  type JobView,
  type JobState,
  type JobEvent,
  type EnqueueOptions,
  type QueueDriverKind,
  isTerminalState,
  isLastAttempt,
} from './queue.types';
