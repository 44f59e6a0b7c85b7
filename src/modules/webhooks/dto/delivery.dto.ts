import { ApiProperty } from '@nestjs/swagger';
import { DELIVERY_STATUSES, type DeliveryRow, type DeliveryStatus } from '../deliveries.repository';

const iso = (value: Date | string | null) => (value === null ? null : new Date(value).toISOString());

/** One event's delivery to one endpoint, with the outcome of its last attempt. */
export class WebhookDeliveryDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) endpointId!: string;
  @ApiProperty({ format: 'uuid', description: 'The event id: the body `id` and the `Webhook-Id` header' })
  eventId!: string;
  @ApiProperty({ example: 'order.paid' }) eventType!: string;
  @ApiProperty({ enum: DELIVERY_STATUSES }) status!: DeliveryStatus;
  @ApiProperty({ description: 'Attempts of the current run (a replay starts a new run)' }) attempts!: number;
  @ApiProperty({ description: 'How many times the delivery was replayed' }) replays!: number;
  @ApiProperty({ nullable: true, type: Number, description: "The receiver's HTTP status at the last attempt" })
  lastStatus!: number | null;
  @ApiProperty({ nullable: true, type: String }) lastError!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) lastAttemptAt!: string | null;
  @ApiProperty({
    nullable: true,
    type: String,
    format: 'date-time',
    description: 'Pending only: the next attempt is due by then',
  })
  nextAttemptAt!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) deliveredAt!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;

  static from(row: DeliveryRow): WebhookDeliveryDto {
    return {
      id: row.id,
      endpointId: row.endpoint_id,
      eventId: row.event_id,
      eventType: row.event_type,
      status: row.status,
      attempts: row.attempts,
      replays: row.replays,
      lastStatus: row.last_status,
      lastError: row.last_error,
      lastAttemptAt: iso(row.last_attempt_at),
      nextAttemptAt: row.status === 'pending' ? iso(row.next_attempt_at) : null,
      deliveredAt: iso(row.delivered_at),
      createdAt: iso(row.created_at) as string,
    };
  }
}

/** A delivery with the message it sends. */
export class WebhookDeliveryDetailDto extends WebhookDeliveryDto {
  @ApiProperty({
    description: 'The JSON body of every attempt: `{ id, type, createdAt, data }`',
    example: {
      id: '6f1c…',
      type: 'order.paid',
      createdAt: '2030-01-31T20:00:00.000Z',
      data: { orderId: '…', eventId: '…', quantity: 2, amountCents: 5000, currency: 'EUR', paidAt: '…' },
    },
  })
  payload!: Record<string, unknown>;

  static override from(row: DeliveryRow): WebhookDeliveryDetailDto {
    return { ...WebhookDeliveryDto.from(row), payload: { ...row.payload } };
  }
}

export class WebhookDeliveryPageDto {
  @ApiProperty({ type: [WebhookDeliveryDto] }) items!: WebhookDeliveryDto[];
  @ApiProperty() total!: number;
  @ApiProperty() limit!: number;
  @ApiProperty() offset!: number;
}
