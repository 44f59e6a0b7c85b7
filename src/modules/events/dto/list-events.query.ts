import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { IsIsoDateTime } from './iso-date-time';
import { EVENT_STATUSES, type EventStatus } from '../event.entity';

export class ListEventsQuery {
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

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit = 20;

  @ApiPropertyOptional({ minimum: 0, maximum: 100_000, default: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(100_000)
  offset = 0;
}
