import { setTimeout as sleep } from 'node:timers/promises';
import { Controller, Get, ParseIntPipe, Post, Query } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { CurrentUser, Public, type SessionUser } from '../platform/session';
import { SkipThrottle } from '../platform/throttler';

/** Reference routes for benchmarks and shutdown tests; mounted only with BENCH_ROUTES=true. */
@ApiExcludeController()
@SkipThrottle()
@Controller('__bench')
export class BenchController {
  /** The baseline every benchmark scenario is compared with: a route that does nothing. */
  @Public()
  @Get('bare')
  bare() {
    return { ok: true };
  }

  /** The bare route as a POST with a JSON body: the reference of POST scenarios (body parsing, 201). */
  @Public()
  @Post('bare')
  barePost() {
    return { ok: true };
  }

  /** The bare route behind the session guard: a session lookup and nothing else. */
  @Get('authenticated')
  authenticated(@CurrentUser() user: SessionUser) {
    return { ok: true, userId: user.id };
  }

  /** Holds the request open, to stand for in-flight work during a shutdown. */
  @Public()
  @Get('slow')
  async slow(@Query('ms', new ParseIntPipe({ optional: true })) ms = 1000) {
    await sleep(Math.min(ms, 30_000));
    return { ok: true, sleptMs: ms };
  }
}
