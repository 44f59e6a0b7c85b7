export { RedisModule } from './redis.module';
export { RedisService, type RedisScript, type RedisScriptCall } from './redis.service';
export { InjectRedis, REDIS_CLIENT } from './redis.decorators';
export { type RedisState, RedisUnavailableError } from './redis-state';
export { type RedisClient, reconnectBackoff } from './redis-connection.factory';
export { type RedisModuleOptions, type RedisNodeAddress, REDIS_MODULE_OPTIONS } from './redis.module-definition';
export { RedisSubscription, type RedisSubscriptionOptions } from './redis-subscription';
export { RedisBreaker, RedisBreakerOpenError, type RedisBreakerOptions } from './redis-breaker';
