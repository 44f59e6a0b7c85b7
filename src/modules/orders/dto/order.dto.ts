import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { OrderEntity, OrderStatus } from '../order.entity';

export class OrderDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) eventId!: string;
  @ApiProperty({ minimum: 1, maximum: 10 }) quantity!: number;
  @ApiProperty() amountCents!: number;
  @ApiProperty({ example: 'EUR' }) currency!: string;
  @ApiProperty({ enum: ['held', 'paid', 'expired'] }) status!: OrderStatus;
  @ApiProperty({ format: 'date-time' }) holdExpiresAt!: string;
  @ApiPropertyOptional({ nullable: true, type: String }) paymentId!: string | null;
  @ApiPropertyOptional({ nullable: true, type: String, format: 'date-time' }) paidAt!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;

  static from(order: OrderEntity): OrderDto {
    return {
      id: order.id,
      eventId: order.eventId,
      quantity: order.quantity,
      amountCents: order.amountCents,
      currency: order.currency,
      status: order.status,
      holdExpiresAt: new Date(order.holdExpiresAt).toISOString(),
      paymentId: order.paymentId,
      paidAt: order.paidAt ? new Date(order.paidAt).toISOString() : null,
      createdAt: new Date(order.createdAt).toISOString(),
    };
  }
}

export class OrderPageDto {
  @ApiProperty({ type: [OrderDto] }) items!: OrderDto[];
  @ApiProperty() total!: number;
  @ApiProperty() limit!: number;
  @ApiProperty() offset!: number;
}
