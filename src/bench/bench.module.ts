import { Module } from '@nestjs/common';
import { EventsModule } from '../modules/events';
import { BenchController } from './bench.controller';
import { CacheBenchController } from './cache-bench.controller';
import { IdempotencyBenchController } from './idempotency-bench.controller';
import { benchStorageProviders, ThrottleBenchController } from './throttle-bench.controller';

export { benchTiers } from './throttle-bench.controller';

/** Reference routes for benchmarks and tests; mounted only with BENCH_ROUTES=true. */
@Module({
  imports: [EventsModule],
  controllers: [BenchController, CacheBenchController, ThrottleBenchController, IdempotencyBenchController],
  providers: benchStorageProviders,
})
export class BenchModule {}
