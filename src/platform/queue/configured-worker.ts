import { Worker, type WorkerOptions } from 'bullmq';

/**
 * @nestjs/bullmq builds each worker from the queue's connection and the `@Processor` options
 * only; settings that belong to the deployment (lock duration, stalled-check interval) have no
 * place there. This subclass, installed as BullModule's worker class, adds them while
 * QueueDriver registers the workers (a synchronous call, so no other app's settings can leak in).
 */
export class ConfiguredWorker extends Worker {
  static defaults: Partial<WorkerOptions> | undefined;
  private boundedClose?: Promise<void>;
  private abandon?: () => void;

  constructor(name: string, processor: ConstructorParameters<typeof Worker>[1], opts: WorkerOptions) {
    super(name, processor, { ...ConfiguredWorker.defaults, ...opts });
  }

  /** BullMQ's close, which every caller (the driver, @nestjs/bullmq's explorer) shares. */
  override close(force = false): Promise<void> {
    this.boundedClose ??= Promise.race([super.close(force), new Promise<void>((resolve) => (this.abandon = resolve))]);
    return this.boundedClose;
  }

  /**
   * Stops waiting for close: with Redis gone it may never complete, and shutdown must go on.
   * What the worker held is left to expire; its jobs are recovered as stalled. BullMQ stops
   * renewing locks only after the running jobs finish, so the renewal timer, which reschedules
   * itself forever, is stopped here (it would keep the process, or a test runner, alive).
   */
  abandonClose(): void {
    this.abandon?.();
    void this.lockManager.close();
  }
}
