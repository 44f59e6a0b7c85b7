import { Inject, Logger, Optional } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from '../../platform/http';
import { isLastAttempt, JobProcessor, WorkerHost, type QueueJob } from '../../platform/queue';
import { DeliveriesRepository, type DeliveryTarget } from './deliveries.repository';
import { webhookSignature } from './webhook-signature';
import { WebhookSender } from './webhook.sender';
import {
  jobIdOf,
  WEBHOOKS_QUEUE,
  WEBHOOKS_SETTINGS,
  type DeliveryJobData,
  type WebhooksSettings,
} from './webhooks.settings';

export const USER_AGENT = 'BoxOffice-Webhooks/1';

export interface DeliveryResult {
  sent: boolean;
  /** The receiver's HTTP status, or why nothing was sent. */
  status: number | string;
}

/**
 * One attempt of a delivery per run of `process`. A 2xx marks it delivered; anything else is
 * recorded on the row and thrown, so the queue retries with the configured backoff; the last
 * failed attempt marks it dead. A job whose delivery is no longer pending in this run (delivered,
 * dead, replayed since) sends nothing, so a duplicate job never re-sends.
 */
@JobProcessor(WEBHOOKS_QUEUE, { concurrency: 10 })
export class DeliveryProcessor extends WorkerHost {
  private readonly logger = new Logger('Webhooks');
  private readonly outcomes: Counter<'outcome'>;

  constructor(
    private readonly deliveries: DeliveriesRepository,
    private readonly sender: WebhookSender,
    @Inject(WEBHOOKS_SETTINGS) private readonly settings: WebhooksSettings,
    @Optional() metrics?: MetricsService,
  ) {
    super();
    this.outcomes = new Counter({
      name: 'webhook_deliveries_total',
      help: 'Webhook delivery attempts that ended, by outcome (delivered, retried, dead)',
      labelNames: ['outcome'] as const,
      registers: metrics ? [metrics.registry] : [],
    });
  }

  async process(job: QueueJob<DeliveryJobData>, _token?: string, signal?: AbortSignal): Promise<DeliveryResult> {
    const delivery = await this.deliveries.target(job.data.deliveryId);
    if (!delivery || delivery.status !== 'pending' || jobIdOf(delivery) !== job.id) {
      return { sent: false, status: delivery ? `already ${delivery.status}` : 'no such delivery' };
    }
    if (delivery.endpoint_deleted) {
      await this.deliveries.markDead(delivery, 'the endpoint was deleted');
      this.outcomes.labels('dead').inc();
      return { sent: false, status: 'endpoint deleted' };
    }

    const attempt = job.attemptsMade + 1;
    const final = isLastAttempt(job);
    let status: number | null = null;
    let error: string | null = null;
    try {
      status = await this.sender.post(delivery.url, ...this.message(delivery), signal);
    } catch (failure) {
      error = (failure as Error).message;
    }
    const delivered = status !== null && status >= 200 && status < 300;
    if (status !== null && !delivered) {
      error = status >= 300 && status < 400 ? `HTTP ${status} (redirects are not followed)` : `HTTP ${status}`;
    }
    await this.deliveries.recordAttempt(delivery, {
      delivered,
      final,
      status,
      error,
      // BullMQ's exponential backoff waits at most this long before the next attempt.
      nextInMs: this.settings.backoffMs * 2 ** (attempt - 1),
    });
    this.outcomes.labels(delivered ? 'delivered' : final ? 'dead' : 'retried').inc();
    if (delivered) return { sent: true, status: status as number };
    if (final) this.logger.warn(`Webhook delivery ${delivery.id} is dead after ${attempt} attempt(s): ${error}`);
    throw new Error(`webhook delivery attempt ${attempt} failed: ${error}`);
  }

  /** The body and headers of an attempt; the body is the same on every attempt, the timestamp is now. */
  private message(delivery: DeliveryTarget): [body: string, headers: Record<string, string>] {
    const { id, type, createdAt, data } = delivery.payload;
    const body = JSON.stringify({ id, type, createdAt, data });
    const timestamp = Math.floor(Date.now() / 1000);
    return [
      body,
      {
        'Content-Type': 'application/json',
        'User-Agent': USER_AGENT,
        'Webhook-Id': id,
        'Webhook-Timestamp': String(timestamp),
        'Webhook-Signature': webhookSignature(delivery.secret, id, timestamp, body),
      },
    ];
  }
}
