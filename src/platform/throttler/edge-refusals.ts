import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { normalizeIp } from '@nestjs/throttler';
import { LRUCache } from 'lru-cache';
import { sendProblem } from '../http';
import { tooManyRequests } from './throttler.errors';
import { ThrottlerMetrics } from './throttler.metrics';
import { THROTTLER_SETTINGS, type ThrottlerSettings } from './throttler.module-definition';

export interface EdgeRequest {
  id?: string;
  url?: string;
  method: string;
  headers: Record<string, string | string[] | undefined>;
  routeOptions?: { url?: string };
}

interface FastifyLike {
  addHook(name: 'onRequest', hook: (request: EdgeRequest, reply: EdgeReply) => Promise<unknown>): unknown;
}

interface EdgeReply {
  code(status: number): EdgeReply;
  header(name: string, value: string): EdgeReply;
  send(body: string): EdgeReply;
}

interface Refusal {
  until: number;
  violated: string[];
  policy: string;
}

/**
 * Refusals answered before Nest's pipeline. When the guard refuses an anonymous request without
 * credentials on a route whose tiers count per IP only, the (route, client) pair is remembered
 * until its retry time; until then a Fastify onRequest hook answers the same 429 at once. The
 * guard would answer exactly that (no hit can pass before the retry time, and such a request has
 * no session that could change its tiers), so this only saves the work: a flood from one
 * client costs next to nothing. Requests with an Authorization or Cookie header always reach the guard.
 */
@Injectable()
export class EdgeRefusals implements OnModuleInit {
  private readonly refusals: LRUCache<string, Refusal>;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly metrics: ThrottlerMetrics,
    @Inject(THROTTLER_SETTINGS) private readonly settings: ThrottlerSettings,
  ) {
    this.refusals = new LRUCache({ max: settings.memoryMaxKeys });
  }

  /** Whether the hook may answer this request's refusals itself. */
  static eligible(request: EdgeRequest): boolean {
    return request.headers.authorization === undefined && request.headers.cookie === undefined;
  }

  /** `client` is the guard's partition, `ip:<address>`. */
  remember(request: EdgeRequest, client: string, refusal: Refusal): void {
    const route = request.routeOptions?.url;
    if (route !== undefined) this.refusals.set(`${request.method} ${route}\n${client}`, refusal);
  }

  onModuleInit(): void {
    const instance = this.adapterHost.httpAdapter?.getInstance<FastifyLike>();
    if (typeof instance?.addHook !== 'function') return;
    instance.addHook('onRequest', async (request, reply) => {
      if (this.refusals.size === 0 || !EdgeRefusals.eligible(request)) return;
      const route = request.routeOptions?.url;
      const ip = (request as { ip?: string }).ip;
      if (route === undefined || ip === undefined) return;
      const key = `${request.method} ${route}\nip:${normalizeIp(ip, this.settings.ipv6SubnetPrefix)}`;
      const refusal = this.refusals.get(key);
      if (refusal === undefined) return;
      const left = refusal.until - Date.now();
      if (left <= 0) {
        this.refusals.delete(key);
        return;
      }
      for (const name of refusal.violated) this.metrics.refused(name);
      const t = Math.ceil(left / 1000);
      const current = refusal.violated.map((name) => `"${name}";r=0;t=${t}`).join(', ');
      const refused = tooManyRequests(left, refusal.violated, {
        'RateLimit-Policy': refusal.policy,
        RateLimit: current,
      });
      sendProblem(reply, refused, request);
      return reply;
    });
  }
}
