/**
 * Benchmark peer: what a user who picks the official modules gets for a cached GET. A NestJS 12
 * app on Fastify with no hooks of its own, `@nestjs/cache-manager`'s `CacheInterceptor` on a
 * route, and cache-manager 7 on Redis through the official Keyv adapter (`@keyv/redis`), as the
 * NestJS caching docs set it up. Not part of the app.
 */
import 'reflect-metadata';
import { CacheInterceptor, CacheModule } from '@nestjs/cache-manager';
import { Controller, Get, Module, Param, UseInterceptors } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import KeyvRedis from '@keyv/redis';
import { peerEvent } from './peer-event';

@Controller()
class PeerController {
  /** Hits never reach the handler: the interceptor answers from Redis. */
  @Get('events/:id')
  @UseInterceptors(CacheInterceptor)
  event(@Param('id') id: string) {
    return peerEvent(id);
  }

  @Get('ready')
  ready() {
    return { status: 'ok' };
  }
}

@Module({
  imports: [
    CacheModule.registerAsync({
      useFactory: () => ({
        ttl: 600_000,
        stores: [
          // Entries are keyed by the URL alone (cache-manager's Keyv drops the adapter's namespace), for 10 minutes.
          new KeyvRedis(process.env.REDIS_URL || 'redis://127.0.0.1:6379'),
        ],
      }),
    }),
  ],
  controllers: [PeerController],
})
class PeerModule {}

async function main() {
  const app = await NestFactory.create<NestFastifyApplication>(PeerModule, new FastifyAdapter(), { logger: false });
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1');
}

void main();
