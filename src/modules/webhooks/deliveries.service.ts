import { Injectable } from '@nestjs/common';
import { DeliveriesRepository, type DeliveryRow } from './deliveries.repository';
import { DeliveryDispatcher } from './delivery.dispatcher';
import type { ListDeliveriesQuery } from './dto/list-deliveries.query';
import { webhookDeliveryNotDead, webhookDeliveryNotFound, webhookEndpointDeleted } from './webhooks.errors';

/** An organizer's deliveries: the list (dead letters with `status=dead`), one, and replay. */
@Injectable()
export class DeliveriesService {
  constructor(
    private readonly deliveries: DeliveriesRepository,
    private readonly dispatcher: DeliveryDispatcher,
  ) {}

  list(organizerId: string, query: ListDeliveriesQuery): Promise<{ items: DeliveryRow[]; total: number }> {
    return this.deliveries.list(organizerId, query);
  }

  async get(id: string, organizerId: string): Promise<DeliveryRow> {
    const row = await this.deliveries.get(id, organizerId);
    if (!row) throw webhookDeliveryNotFound();
    return row;
  }

  /**
   * Sends a dead delivery again: the same event id and body, attempts from zero, under a fresh
   * job id. The row is reset first, so if the queue is down now the sweep enqueues it later:
   * the replay is accepted either way.
   */
  async replay(id: string, organizerId: string): Promise<DeliveryRow> {
    const replayed = await this.deliveries.replay(id, organizerId);
    if (!replayed) {
      const current = await this.deliveries.get(id, organizerId);
      if (!current) throw webhookDeliveryNotFound();
      if (current.status !== 'dead') throw webhookDeliveryNotDead(current.status);
      throw webhookEndpointDeleted();
    }
    await this.dispatcher.enqueue([replayed]);
    return replayed;
  }
}
