import { Inject, Injectable, Logger, Optional, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SessionService } from '../session';
import { mountQueueDashboard } from './queue.dashboard';
import { QueueDriver } from './queue.driver';
import { QUEUE_SETTINGS, type QueueSettings } from './queue.module-definition';

/**
 * Mounts Bull Board (BullMQ only) on the Fastify instance, with the admin-session check in the
 * dashboard's own hook: its HTML, assets and JSON API are all refused without the role.
 */
@Injectable()
export class QueueDashboard implements OnModuleInit {
  constructor(
    @Inject(QUEUE_SETTINGS) private readonly settings: QueueSettings,
    private readonly driver: QueueDriver,
    private readonly adapterHost: HttpAdapterHost,
    @Optional() private readonly sessions?: SessionService,
  ) {}

  onModuleInit(): void {
    const { dashboardPath, dashboardRole } = this.settings;
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!dashboardPath || this.driver.kind !== 'bullmq' || typeof fastify?.register !== 'function') return;
    const sessions = this.sessions;
    if (!sessions) {
      new Logger('Queue').warn(
        `No SessionModule: the dashboard at ${dashboardPath} is not mounted (nobody could open it)`,
      );
      return;
    }
    mountQueueDashboard(fastify, {
      basePath: dashboardPath,
      role: dashboardRole,
      queues: () => this.driver.bullQueues(),
      authorize: async (request: FastifyRequest) => {
        const credential = sessions.readCredential(request);
        if (!credential) return 'unauthenticated';
        const session = await sessions.authenticate(credential.token);
        return session.roles.includes(dashboardRole) ? 'ok' : 'forbidden';
      },
    });
  }
}
