import { ApiProperty } from '@nestjs/swagger';
import type { JobView } from '../../../platform/queue';

/** The answer to an export request: where to follow it and where the CSV will be. */
export class ExportAcceptedDto {
  @ApiProperty({ description: 'The export id, which is also its job id' })
  id!: string;

  @ApiProperty({ enum: ['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed'] })
  state!: string;

  @ApiProperty({ example: '/jobs/3f1c…', description: 'Job status (also in the Location header)' })
  status!: string;

  @ApiProperty({ example: '/jobs/3f1c…/events', description: 'Server-Sent Events: progress and completion' })
  events!: string;

  @ApiProperty({ example: '/exports/3f1c…/download', description: 'The CSV, once the job has completed' })
  download!: string;

  static from(job: JobView): ExportAcceptedDto {
    return {
      id: job.id,
      state: job.state,
      status: `/jobs/${job.id}`,
      events: `/jobs/${job.id}/events`,
      download: `/exports/${job.id}/download`,
    };
  }
}
