import { Controller, Get, Module } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';

/** The baseline every benchmark scenario is compared with: a route that does nothing. */
@ApiExcludeController()
@Controller('__bench')
export class BenchController {
  @Get('bare')
  bare() {
    return { ok: true };
  }
}

/** Loaded only with BENCH_ROUTES=true. */
@Module({ controllers: [BenchController] })
export class BenchModule {}
