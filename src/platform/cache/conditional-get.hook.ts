import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ifNoneMatchHits } from './http-entry.codec';

interface FastifyLike {
  addHook(
    name: 'onSend',
    hook: (
      request: { method: string; headers: Record<string, string | string[] | undefined> },
      reply: {
        statusCode: number;
        getHeader(name: string): unknown;
        removeHeader(name: string): unknown;
        code(status: number): unknown;
      },
      payload: unknown,
      done: (error: null, payload: unknown) => void,
    ) => void,
  ): unknown;
}

/**
 * 304 Not Modified for a GET or HEAD whose If-None-Match matches the ETag of a 200 response.
 * Nest sets the route's status after interceptors, so on Fastify this is an onSend hook; Express
 * does the same check itself in `res.send`.
 */
@Injectable()
export class ConditionalGetHook implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const instance = this.adapterHost.httpAdapter?.getInstance<FastifyLike>();
    if (typeof instance?.addHook !== 'function') return;
    instance.addHook('onSend', (request, reply, payload, done) => {
      const header = request.headers['if-none-match'];
      if (
        typeof header !== 'string' ||
        reply.statusCode !== 200 ||
        (request.method !== 'GET' && request.method !== 'HEAD')
      )
        return done(null, payload);
      const etag = reply.getHeader('etag');
      if (typeof etag !== 'string' || !ifNoneMatchHits(header, etag)) return done(null, payload);
      reply.code(304);
      reply.removeHeader('content-type');
      reply.removeHeader('content-length');
      done(null, '');
    });
  }
}
