import { setTimeout as sleep } from 'node:timers/promises';
import { Controller, Get, Module, ParseIntPipe, Query } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../platform/session';

/** Reference routes for benchmarks and shutdown tests; mounted only with BENCH_ROUTES=true. */
@ApiExcludeController()
@Public()
@Controller('__bench')
export class BenchController {
  /** The baseline every benchmark scenario is compared with: a route that does nothing. */
  @Get('bare')
  bare() {
    return { ok: true };
  }

  /** Holds the request open, to stand for in-flight work during a shutdown. */
  @Get('slow')
  async slow(@Query('ms', new ParseIntPipe({ optional: true })) ms = 1000) {
    await sleep(Math.min(ms, 30_000));
    return { ok: true, sleptMs: ms };
  }
}

@Module({ controllers: [BenchController] })
export class BenchModule {}
