import { Module } from '@nestjs/common';
import { EventsModule } from '../modules/events';
import { QueueModule } from '../platform/queue';
import { BenchController } from './bench.controller';
import { CacheBenchController } from './cache-bench.controller';
import { DbBenchController } from './db-bench.controller';
import { IdempotencyBenchController } from './idempotency-bench.controller';
import { BENCH_QUEUE, BenchNoopProcessor, QueueBenchController } from './queue-bench.controller';
import { benchStorageProviders, ThrottleBenchController } from './throttle-bench.controller';

export { benchTiers } from './throttle-bench.controller';

/** Reference routes for benchmarks and tests; mounted only with BENCH_ROUTES=true. */
@Module({
  imports: [EventsModule, QueueModule.registerQueue({ name: BENCH_QUEUE })],
  controllers: [
    BenchController,
    CacheBenchController,
    ThrottleBenchController,
    IdempotencyBenchController,
    QueueBenchController,
    DbBenchController,
  ],
  providers: [...benchStorageProviders, BenchNoopProcessor],
})
export class BenchModule {}
