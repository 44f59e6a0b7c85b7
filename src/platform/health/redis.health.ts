import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { RedisService } from '../redis';

/**
 * Redis in its three states: not configured is up (`configured: false`); up is up; configured but
 * down is `degraded` (200, the app serves on its failure policies) or, when Redis is required, down.
 */
@Injectable()
export class RedisHealthIndicator {
  constructor(
    private readonly redis: RedisService,
    private readonly health: HealthIndicatorService,
  ) {}

  async check<const Key extends string>(key: Key, options: { required: boolean; timeoutMs: number }) {
    const indicator = this.health.check(key);
    if (!this.redis.configured) {
      return indicator.up({ configured: false, message: 'not configured: platform modules use in-process stores' });
    }
    try {
      const latencyMs = await this.redis.ping(options.timeoutMs);
      return indicator.up({ configured: true, state: this.redis.state, latencyMs });
    } catch (error) {
      const data = {
        configured: true,
        state: this.redis.state === 'ready' ? ('unresponsive' as const) : this.redis.state,
        message: error instanceof Error ? error.message : String(error),
      };
      return options.required ? indicator.down(data) : indicator.degraded(data);
    }
  }
}
