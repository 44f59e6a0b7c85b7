import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export interface EndpointRow {
  id: string;
  url: string;
  description: string | null;
  created_at: Date | string;
}

/** An endpoint as listed: never its secret. */
export class WebhookEndpointDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uri' }) url!: string;
  @ApiPropertyOptional({ nullable: true, type: String }) description!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;

  static from(row: EndpointRow): WebhookEndpointDto {
    return {
      id: row.id,
      url: row.url,
      description: row.description,
      createdAt: new Date(row.created_at).toISOString(),
    };
  }
}

/** The answer to a registration: the only time the signing secret is shown. */
export class CreatedWebhookEndpointDto extends WebhookEndpointDto {
  @ApiProperty({
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    description:
      'Signing secret (Standard Webhooks): shown once. Verify `Webhook-Signature` = `v1,` + base64(HMAC-SHA256(' +
      'base64-decoded part after `whsec_`, "<Webhook-Id>.<Webhook-Timestamp>.<raw body>")).',
  })
  secret!: string;
}

export class WebhookEndpointPageDto {
  @ApiProperty({ type: [WebhookEndpointDto] }) items!: WebhookEndpointDto[];
  @ApiProperty() total!: number;
  @ApiProperty() limit!: number;
  @ApiProperty() offset!: number;
}
