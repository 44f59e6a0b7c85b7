import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { PageQuery } from '../../../platform/http';
import { IsIsoDateTime } from './iso-date-time';
import { EVENT_STATUSES, type EventStatus } from '../event.entity';

export class ListEventsQuery extends PageQuery {
  @ApiPropertyOptional({ format: 'date-time', description: 'Events starting at or after this instant' })
  @IsOptional()
  @IsIsoDateTime('from')
  from?: Date;

  @ApiPropertyOptional({ format: 'date-time', description: 'Events starting before this instant' })
  @IsOptional()
  @IsIsoDateTime('to')
  to?: Date;

  @ApiPropertyOptional({ enum: EVENT_STATUSES, default: 'published' })
  @IsOptional()
  @IsIn(EVENT_STATUSES)
  status: EventStatus = 'published';
}
