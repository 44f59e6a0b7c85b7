import { setTimeout as sleep } from 'node:timers/promises';
import { Controller, Get, HttpCode, HttpException, Param, Post, Query, Req } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { ProblemException } from '../platform/http';
import { Idempotent } from '../platform/idempotency';
import { Lock, LockService, WithLock, type LockHandle } from '../platform/lock';
import { RedisService, type RedisClient, type RedisScriptCall } from '../platform/redis';
import { Public } from '../platform/session';
import { SkipThrottle } from '../platform/throttler';

/**
 * Reference routes for idempotency and locks (BENCH_ROUTES=true only): public, so they show the
 * platform's behaviour without a session in the way; each counts its executions.
 */
@ApiExcludeController()
@Public()
@SkipThrottle()
@Controller('__bench')
export class IdempotencyBenchController {
  private runs = 0;
  private raw?: { connection: RedisClient; release: RedisScriptCall<number> };

  constructor(
    private readonly locks: LockService,
    private readonly redis: RedisService,
  ) {}

  /** An idempotent POST that answers at once: after the first call, every call with its key is a replay. */
  @Post('idempotent/echo')
  @Idempotent()
  echo() {
    return { ok: true, run: ++this.runs };
  }

  /** A deduplication route: the key is the body's `messageId`, not a header. */
  @Post('idempotent/dedupe')
  @Idempotent({ keyField: 'messageId' })
  dedupe() {
    return { ok: true, run: ++this.runs };
  }

  /** Takes `ms` to answer; other requests with its key wait for it up to 5 s. */
  @Post('idempotent/slow')
  @Idempotent({ wait: 5000 })
  async slow(@Query('ms') ms = '500') {
    const run = ++this.runs;
    await sleep(Math.min(Number(ms) || 0, 30_000));
    return { ok: true, run };
  }

  /** Fails with `status` (a 5xx, or any answer with `retryAfter`, frees the key; another 4xx is kept and replayed). */
  @Post('idempotent/fail')
  @Idempotent()
  fail(@Query('status') status = '500', @Query('retryAfter') retryAfter?: string) {
    ++this.runs;
    if (retryAfter) {
      throw new ProblemException(Number(status), {
        type: 'busy-on-purpose',
        title: 'Busy',
        headers: { 'Retry-After': retryAfter },
      });
    }
    throw new HttpException(`failing on purpose (run ${this.runs})`, Number(status));
  }

  /** A POST holding the lock `bench:{id}` while it runs; answers its fencing token. */
  @Post('locked/:id')
  @HttpCode(200)
  @WithLock('bench:{id}')
  async locked(@Param('id') _id: string, @Lock() lock: LockHandle, @Query('ms') ms = '0') {
    const run = ++this.runs;
    if (Number(ms) > 0) await sleep(Math.min(Number(ms), 30_000));
    return { ok: true, run, token: lock.token };
  }

  /**
   * A POST holding a lock of its own (the request id): the cost of taking and releasing a lock
   * without contention, which a fixed benchmark URL could not give `@WithLock('bench:{id}')`.
   */
  @Post('locked-each')
  @HttpCode(200)
  lockedEach(@Req() request: { id: string }) {
    return this.locks.withLock(`bench:each:${request.id}`, async (lock) => ({ ok: true, token: lock.token }));
  }

  /**
   * The limit of an uncontended locked POST: the two round trips a lock needs (SET NX PX to take
   * it, a compare-and-delete script to give it back) on a raw connection, with no lock module.
   */
  @Post('locked-limit')
  @HttpCode(200)
  async lockedLimit(@Req() request: { id: string }) {
    this.raw ??= this.openRaw();
    const key = `bench:limit:${request.id}`;
    const token = request.id;
    if ((await this.raw.connection.set(key, token, 'PX', 30_000, 'NX')) !== 'OK') throw new HttpException('held', 409);
    await this.raw.release([key], [token]);
    return { ok: true, token };
  }

  /** Executions so far (all routes above). */
  @Get('idempotent/runs')
  count() {
    return { runs: this.runs };
  }

  private openRaw() {
    const connection = this.redis.createConnection({ keyPrefix: this.redis.prefix, enableOfflineQueue: true }, 'bench');
    const release = this.redis.defineScript<number>(
      {
        name: 'boBenchRelease',
        lua: "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        numberOfKeys: 1,
      },
      connection,
    );
    return { connection, release };
  }
}
