import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min, MinDate } from 'class-validator';
import { IsIsoDateTime } from './iso-date-time';

export class CreateEventDto {
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'Jazz night' })
  @IsString()
  @Length(1, 200)
  title!: string;

  @ApiProperty({ minLength: 1, maxLength: 200, example: 'Hall A' })
  @IsString()
  @Length(1, 200)
  venue!: string;

  @ApiProperty({ format: 'date-time', description: 'ISO 8601 date-time, in the future' })
  @IsIsoDateTime('startsAt')
  @MinDate(() => new Date(), { message: 'startsAt must be in the future' })
  startsAt!: Date;

  @ApiProperty({ minimum: 1, maximum: 1_000_000 })
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  capacity!: number;

  @ApiProperty({ minimum: 0, maximum: 100_000_000, description: 'Price in the minor unit of the currency' })
  @IsInt()
  @Min(0)
  @Max(100_000_000)
  priceCents!: number;

  @ApiProperty({ example: 'EUR', description: 'ISO 4217 code' })
  @IsString()
  @Matches(/^[A-Z]{3}$/, { message: 'currency must be an ISO 4217 code such as EUR' })
  currency!: string;

  @ApiPropertyOptional({ enum: ['draft', 'published'], default: 'published' })
  @IsOptional()
  @IsIn(['draft', 'published'])
  status?: 'draft' | 'published';
}
