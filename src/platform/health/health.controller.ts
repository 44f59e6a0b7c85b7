import { Controller, Get, Inject, Optional, ServiceUnavailableException, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { HEALTH_MODULE_OPTIONS, type HealthModuleOptions } from './health.module-definition';
import { Public } from '../session';
import { QueueHealthIndicator } from '../queue';
import { RedisHealthIndicator } from './redis.health';
import { SkipThrottle } from '@nestjs/throttler';

interface StatusReply {
  status(code: number): unknown;
}

@ApiTags('health')
@Public()
@SkipThrottle()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly redis: RedisHealthIndicator,
    @Inject(HEALTH_MODULE_OPTIONS) private readonly options: HealthModuleOptions,
    @Optional() private readonly queues?: QueueHealthIndicator,
  ) {}

  /** The process answers: nothing else is checked, so a dependency outage never restarts pods. */
  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is serving' })
  @ApiOkResponse({
    schema: {
      type: 'object',
      required: ['status', 'uptimeSeconds'],
      properties: { status: { type: 'string', enum: ['ok'] }, uptimeSeconds: { type: 'integer', minimum: 0 } },
    },
  })
  live() {
    return { status: 'ok', uptimeSeconds: Math.round(process.uptime()) };
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: database up, Redis per its state; 503 while draining' })
  async ready(@Res({ passthrough: true }) reply: StatusReply) {
    const timeoutMs = this.options.checkTimeoutMs ?? 1000;
    try {
      return await this.health.check([
        this.database.pingCheck('database').withTimeout(timeoutMs),
        () => this.redis.check('redis', { required: this.options.readinessRequiresRedis ?? false, timeoutMs }),
        ...(this.queues ? [() => (this.queues as QueueHealthIndicator).check('queue')] : []),
      ]);
    } catch (error) {
      // Terminus reports failure as a 503 exception carrying its usual body; probes and
      // people read that body, so it is sent as is rather than as a problem document.
      if (!(error instanceof ServiceUnavailableException)) throw error;
      reply.status(503);
      return error.getResponse();
    }
  }
}
