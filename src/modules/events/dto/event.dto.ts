import { ApiProperty } from '@nestjs/swagger';
import { EVENT_STATUSES, type EventEntity, type EventStatus } from '../event.entity';

/** The public representation of an event. */
export class EventDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() title!: string;
  @ApiProperty() venue!: string;
  @ApiProperty({ format: 'date-time' }) startsAt!: string;
  @ApiProperty({ minimum: 1 }) capacity!: number;
  @ApiProperty({ minimum: 0 }) seatsAvailable!: number;
  @ApiProperty({ minimum: 0, description: 'Price in the minor unit of the currency' }) priceCents!: number;
  @ApiProperty({ example: 'EUR', description: 'ISO 4217 code' }) currency!: string;
  @ApiProperty({ format: 'uuid', nullable: true, type: String }) organizerId!: string | null;
  @ApiProperty({ enum: EVENT_STATUSES }) status!: EventStatus;
  @ApiProperty() version!: number;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;

  static from(event: EventEntity): EventDto {
    return {
      id: event.id,
      title: event.title,
      venue: event.venue,
      startsAt: event.startsAt.toISOString(),
      capacity: event.capacity,
      seatsAvailable: event.seatsAvailable,
      priceCents: event.priceCents,
      currency: event.currency,
      organizerId: event.organizerId,
      status: event.status,
      version: event.version,
      createdAt: event.createdAt.toISOString(),
      updatedAt: event.updatedAt.toISOString(),
    };
  }
}

export class EventPageDto {
  @ApiProperty({ type: [EventDto] }) items!: EventDto[];
  @ApiProperty({ description: 'Events matching the filter, over all pages' }) total!: number;
  @ApiProperty() limit!: number;
  @ApiProperty() offset!: number;
}
