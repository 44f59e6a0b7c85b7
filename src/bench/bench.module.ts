import { Module } from '@nestjs/common';
import { EventsModule } from '../modules/events';
import { BenchController } from './bench.controller';
import { CacheBenchController } from './cache-bench.controller';

/** Reference routes for benchmarks and tests; mounted only with BENCH_ROUTES=true. */
@Module({ imports: [EventsModule], controllers: [BenchController, CacheBenchController] })
export class BenchModule {}
