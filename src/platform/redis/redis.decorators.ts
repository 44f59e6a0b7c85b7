import { Inject } from '@nestjs/common';

/** Token of the raw request-path ioredis client (`Redis | Cluster`), or `null` when Redis is not configured. */
export const REDIS_CLIENT = Symbol('REDIS_CLIENT');

/** Injects the raw request-path ioredis client, or `null` when Redis is not configured. */
export const InjectRedis = (): ParameterDecorator => Inject(REDIS_CLIENT);
