import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { QueueDriver } from './queue.driver';

/** Says which queue driver is active, so nobody mistakes the in-process queue for a durable one. */
@Injectable()
export class QueueHealthIndicator {
  constructor(
    private readonly driver: QueueDriver,
    private readonly health: HealthIndicatorService,
  ) {}

  check<const Key extends string>(key: Key) {
    const durable = this.driver.kind === 'bullmq';
    return this.health.check(key).up({
      driver: this.driver.kind,
      durable,
      workers: this.driver.workersEnabled,
      queues: this.driver.all.map((queue) => queue.name),
      ...(!durable && { message: 'in-process queues: jobs run here and are lost if the process stops' }),
    });
  }
}
