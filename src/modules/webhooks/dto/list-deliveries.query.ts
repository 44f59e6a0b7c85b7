import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsUUID } from 'class-validator';
import { PageQuery } from '../../../platform/http';
import { DELIVERY_STATUSES, type DeliveryStatus } from '../deliveries.repository';

/** GET /webhooks/deliveries: the caller's deliveries, newest first; `status=dead` is the dead-letter list. */
export class ListDeliveriesQuery extends PageQuery {
  @ApiPropertyOptional({ enum: DELIVERY_STATUSES })
  @IsOptional()
  @IsIn(DELIVERY_STATUSES)
  status?: DeliveryStatus;

  @ApiPropertyOptional({ format: 'uuid', description: 'Deliveries to this endpoint only' })
  @IsOptional()
  @IsUUID()
  endpointId?: string;
}
