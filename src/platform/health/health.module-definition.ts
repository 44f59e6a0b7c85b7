import { ConfigurableModuleBuilder } from '@nestjs/common';

export interface HealthModuleOptions {
  /** Make readiness fail (503) while configured Redis is down, instead of reporting `degraded`. Default false. */
  readinessRequiresRedis?: boolean;
  /** On SIGTERM, readiness answers 503 at once and the server keeps serving this long before it stops accepting. Default 5000 ms. */
  drainMs?: number;
  /** Deadline of each readiness check. Default 1000 ms. */
  checkTimeoutMs?: number;
}

export const { ConfigurableModuleClass: HealthConfigurableModule, MODULE_OPTIONS_TOKEN: HEALTH_MODULE_OPTIONS } =
  new ConfigurableModuleBuilder<HealthModuleOptions>({ moduleName: 'Health' }).setClassMethodName('forRoot').build();
