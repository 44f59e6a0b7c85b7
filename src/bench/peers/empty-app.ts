/**
 * Benchmark peer: an empty NestJS 12 app on Fastify, with no global hooks, guards,
 * interceptors, filters or logger. `bench/` measures our `/__bench/bare` against its `/bare`
 * (the platform's fixed cost) and our cache against its one raw ioredis GET. Not part of the app.
 */
import 'reflect-metadata';
import { Controller, Get, Module, type OnApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import { peerEvent } from './peer-event';

const DOC_KEY = `${process.env.REDIS_KEY_PREFIX ?? 'bench:'}peer:doc`;
const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379', { lazyConnect: true });

@Controller()
class EmptyController implements OnApplicationShutdown {
  @Get('bare')
  bare() {
    return { ok: true };
  }

  /** One raw GET of a stored JSON document, parsed and sent: the floor of any Redis-backed cache hit. */
  @Get('redis-get')
  async redisGet() {
    return JSON.parse((await redis.get(DOC_KEY)) ?? 'null') as unknown;
  }

  @Get('ready')
  ready() {
    return { status: 'ok' };
  }

  async onApplicationShutdown() {
    await redis.quit().catch(() => redis.disconnect());
  }
}

@Module({ controllers: [EmptyController] })
class EmptyModule {}

async function main() {
  await redis.connect();
  const doc = peerEvent('00000000-0000-4000-8000-000000000000');

  await redis.set(DOC_KEY, JSON.stringify(doc), 'EX', 3600);
  const app = await NestFactory.create<NestFastifyApplication>(EmptyModule, new FastifyAdapter(), { logger: false });
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1');
}

void main();
