import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectJobQueue, type JobQueue, type JobView } from '../../platform/queue';
import type { OrderEventsListener } from '../orders';
import { DeliveriesRepository, type DeliveryRef } from './deliveries.repository';
import {
  DELIVERY_JOB,
  jobIdOf,
  WEBHOOKS_QUEUE,
  WEBHOOKS_SETTINGS,
  type DeliveryJobData,
  type WebhooksSettings,
} from './webhooks.settings';

const BATCH = 100;

/**
 * Turns outbox rows into deliveries and deliveries into queue jobs. A payment nudges it at once
 * (`recorded`); a sweep every `sweepIntervalMs` (and one at start) catches what a nudge missed:
 * outbox rows written while this instance was down, and deliveries whose job could not be
 * enqueued (Redis down) or was lost (in-process queue, restart). Job ids are delivery ids, so
 * enqueueing twice, here or on another instance, adds nothing.
 */
@Injectable()
export class DeliveryDispatcher implements OrderEventsListener, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Webhooks');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private pending?: 'publish' | 'sweep';
  private closed = false;

  constructor(
    private readonly deliveries: DeliveriesRepository,
    @InjectJobQueue(WEBHOOKS_QUEUE) private readonly queue: JobQueue<DeliveryJobData>,
    @Inject(WEBHOOKS_SETTINGS) private readonly settings: WebhooksSettings,
  ) {}

  /** An outbox row was committed: publish it now rather than at the next sweep. Never throws. */
  recorded(): void {
    this.schedule('publish');
  }

  onApplicationBootstrap(): void {
    this.schedule('sweep');
    if (this.settings.sweepIntervalMs > 0) {
      this.timer = setInterval(() => this.schedule('sweep'), this.settings.sweepIntervalMs);
      this.timer.unref();
    }
  }

  /** Stops sweeping and waits for the pass in progress, before the database closes. */
  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Publishes the outbox now (and re-enqueues stranded deliveries when sweeping); resolves when done. */
  async sweep(): Promise<void> {
    await this.publish();
    await this.requeueStranded();
  }

  /** One pass at a time per instance; a request during a pass runs once after it, never piles up. */
  private schedule(kind: 'publish' | 'sweep'): void {
    if (this.closed) return;
    if (this.running) {
      if (this.pending !== 'sweep') this.pending = kind;
      return;
    }
    this.running = (kind === 'sweep' ? this.sweep() : this.publish())
      .catch((error: Error) => this.logger.warn(`Webhook dispatch failed: ${error.message}`))
      .finally(() => {
        this.running = undefined;
        const next = this.pending;
        this.pending = undefined;
        if (next) this.schedule(next);
      });
  }

  private async publish(): Promise<void> {
    for (;;) {
      const { events, deliveries } = await this.deliveries.publish(BATCH);
      if (deliveries.length) await this.enqueue(deliveries);
      if (events < BATCH) return;
    }
  }

  private async requeueStranded(): Promise<void> {
    // Past its latest due time by this much, a pending delivery's job is presumed lost.
    const staleMs = 60_000 + 2 * this.settings.timeoutMs;
    const stranded = await this.deliveries.stranded(staleMs, BATCH * 5);
    if (stranded.length) await this.enqueue(stranded);
  }

  /** Enqueues each delivery's current job; stops at the first refusal (the queue is down) and leaves the rest to the sweep. */
  async enqueue(deliveries: DeliveryRef[]): Promise<void> {
    for (const [index, delivery] of deliveries.entries()) {
      let job: JobView;
      try {
        job = await this.queue.add(DELIVERY_JOB, { deliveryId: delivery.id }, { jobId: jobIdOf(delivery) });
      } catch (error) {
        this.logger.warn(
          `Could not enqueue ${deliveries.length - index} webhook deliveries; the sweep retries them: ${(error as Error).message}`,
        );
        return;
      }
      // The job ran out of attempts, but its last attempt was never recorded (a crash in between).
      if (job.state === 'failed') await this.deliveries.markDead(delivery, job.failedReason ?? 'all attempts failed');
      else await this.deliveries.markEnqueued(delivery.id);
    }
  }
}
