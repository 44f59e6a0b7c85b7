import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { ProblemDetailsFilter } from './problem.filter';
import { createValidationPipe } from './validation.pipe';

/**
 * HTTP conventions shared by every route: problem+json errors, DTO validation and Prometheus
 * metrics at `/metrics`. Request ids and request logs are Fastify hooks (see `fastify.ts`).
 */
@Module({})
export class HttpPlatformModule {
  static forRoot(): DynamicModule {
    return {
      module: HttpPlatformModule,
      global: true,
      controllers: [MetricsController],
      providers: [
        MetricsService,
        { provide: APP_FILTER, useClass: ProblemDetailsFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
      ],
      exports: [MetricsService],
    };
  }
}
