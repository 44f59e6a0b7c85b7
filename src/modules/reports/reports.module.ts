import { Module, type DynamicModule } from '@nestjs/common';
import { QueueModule } from '../../platform/queue';
import { EventsModule } from '../events';
import { ExportProcessor } from './export.processor';
import { ExportsController } from './exports.controller';
import { ExportsService } from './exports.service';
import { EXPORTS_QUEUE, REPORTS_SETTINGS, type ReportsSettings } from './reports.settings';

/** CSV exports of an event's orders, written by a queue processor with live progress. */
@Module({})
export class ReportsModule {
  static forRoot(settings: ReportsSettings): DynamicModule {
    const retentionSeconds = Math.ceil(settings.retentionMs / 1000);
    return {
      module: ReportsModule,
      imports: [
        EventsModule,
        QueueModule.registerQueue({
          name: EXPORTS_QUEUE,
          defaultJobOptions: {
            attempts: 3,
            backoff: { type: 'exponential', delay: 1000, jitter: 0.5 },
            // The job carries the export's status for GET /jobs/:id as long as the CSV is kept.
            removeOnComplete: { age: retentionSeconds, count: 10_000 },
            removeOnFail: { age: retentionSeconds, count: 10_000 },
          },
        }),
      ],
      controllers: [ExportsController],
      providers: [{ provide: REPORTS_SETTINGS, useValue: settings }, ExportsService, ExportProcessor],
    };
  }
}
