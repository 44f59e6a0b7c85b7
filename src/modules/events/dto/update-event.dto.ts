import { ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { EVENT_STATUSES, type EventStatus } from '../event.entity';
import { CreateEventDto } from './create-event.dto';

export class UpdateEventDto extends PartialType(OmitType(CreateEventDto, ['status'] as const)) {
  @ApiPropertyOptional({ enum: EVENT_STATUSES })
  @IsOptional()
  @IsIn(EVENT_STATUSES)
  status?: EventStatus;
}
