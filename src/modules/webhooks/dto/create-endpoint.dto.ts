import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length, MaxLength } from 'class-validator';
import { IsWebhookUrl } from './webhook-url';

export class CreateWebhookEndpointDto {
  @ApiProperty({
    format: 'uri',
    maxLength: 2048,
    example: 'https://hooks.example.com/box-office',
    description: 'https only; no credentials; must resolve to public addresses only',
  })
  @IsString()
  @MaxLength(2048)
  @IsWebhookUrl()
  url!: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: 200, example: 'Ticketing CRM' })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  description?: string;
}
