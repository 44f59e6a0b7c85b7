import { Module } from '@nestjs/common';
import { REDIS_CLIENT } from './redis.decorators';
import { RedisConfigurableModule } from './redis.module-definition';
import { RedisService } from './redis.service';

/**
 * The one Redis connection of the app (ioredis: standalone, Sentinel or Cluster) and its state.
 * Global by default, so every platform module can pick its Redis or in-memory store from it.
 */
@Module({
  providers: [
    RedisService,
    {
      provide: REDIS_CLIENT,
      useFactory: (redis: RedisService) => (redis.configured ? redis.client : null),
      inject: [RedisService],
    },
  ],
  exports: [RedisService, REDIS_CLIENT],
})
export class RedisModule extends RedisConfigurableModule {}
