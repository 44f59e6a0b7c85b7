export { HealthModule } from './health.module';
export { RedisHealthIndicator } from './redis.health';
export { type HealthModuleOptions } from './health.module-definition';
