import { Module, type DynamicModule } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';
import { HealthConfigurableModule, type HealthModuleOptions } from './health.module-definition';
import { RedisHealthIndicator } from './redis.health';

/** Kubernetes probes: `/health/live` (process only) and `/health/ready` (dependencies, draining). */
@Module({})
export class HealthModule extends HealthConfigurableModule {
  static override forRoot(options: HealthModuleOptions): DynamicModule {
    const base = super.forRoot(options);
    return {
      ...base,
      imports: [TerminusModule.forRoot({ gracefulShutdownTimeoutMs: options.drainMs ?? 5000, logger: false })],
      controllers: [HealthController],
      providers: [...(base.providers ?? []), RedisHealthIndicator],
      exports: [RedisHealthIndicator],
    };
  }
}
