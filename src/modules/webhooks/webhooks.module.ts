import { Module, type DynamicModule } from '@nestjs/common';
import { QueueModule } from '../../platform/queue';
import { ORDER_EVENTS_LISTENER } from '../orders';
import { AddressPolicy } from './address-policy';
import { DeliveriesRepository } from './deliveries.repository';
import { DeliveriesService } from './deliveries.service';
import { DeliveryDispatcher } from './delivery.dispatcher';
import { DeliveryProcessor } from './delivery.processor';
import { DestinationGuard } from './destination-guard';
import { EndpointsService } from './endpoints.service';
import { WebhookSender } from './webhook.sender';
import { WebhooksController } from './webhooks.controller';
import { WEBHOOKS_QUEUE, WEBHOOKS_SETTINGS, type WebhooksSettings } from './webhooks.settings';

const DAY_S = 86_400;

/**
 * Organizer webhooks on `order.paid`: endpoints, an outbox dispatcher, a queue processor with
 * retries and backoff, dead letters and replay. The module is global for one reason only: it
 * provides the orders outbox listener, which PaymentsService injects optionally, so orders never
 * import webhooks. Nothing else is exported.
 */
@Module({})
export class WebhooksModule {
  static forRoot(settings: WebhooksSettings): DynamicModule {
    return {
      module: WebhooksModule,
      global: true,
      imports: [
        QueueModule.registerQueue({
          name: WEBHOOKS_QUEUE,
          defaultJobOptions: {
            attempts: settings.attempts,
            backoff: { type: 'exponential', delay: settings.backoffMs, jitter: 0.5 },
            // The delivery row is the record; jobs stay only long enough to make a repeated
            // enqueue a no-op and to show in the dashboard.
            removeOnComplete: { age: DAY_S, count: 10_000 },
            removeOnFail: { age: 7 * DAY_S, count: 10_000 },
          },
        }),
      ],
      controllers: [WebhooksController],
      providers: [
        { provide: WEBHOOKS_SETTINGS, useValue: settings },
        {
          provide: DestinationGuard,
          useFactory: () => new DestinationGuard(new AddressPolicy(settings.allowedPrivateAddresses)),
        },
        {
          provide: WebhookSender,
          inject: [DestinationGuard],
          useFactory: (guard: DestinationGuard) => new WebhookSender(guard, settings.timeoutMs),
        },
        DeliveriesRepository,
        DeliveryDispatcher,
        { provide: ORDER_EVENTS_LISTENER, useExisting: DeliveryDispatcher },
        DeliveryProcessor,
        EndpointsService,
        DeliveriesService,
      ],
      exports: [ORDER_EVENTS_LISTENER],
    };
  }
}
