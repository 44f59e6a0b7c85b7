import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import { loggerOptions } from './logger.options';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { ProblemDetailsFilter } from './problem.filter';
import { createValidationPipe } from './validation.pipe';

export interface HttpPlatformOptions {
  /** pino level. Default `info`. */
  logLevel?: string;
}

/**
 * HTTP conventions shared by every route: problem+json errors, DTO validation, JSON logs with
 * request ids, and Prometheus metrics at `/metrics`.
 */
@Module({})
export class HttpPlatformModule {
  static forRoot(options: HttpPlatformOptions = {}): DynamicModule {
    return {
      module: HttpPlatformModule,
      global: true,
      imports: [LoggerModule.forRoot(loggerOptions(options.logLevel ?? 'info'))],
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
