import { ApiProperty } from '@nestjs/swagger';
import { IsInt, Max, Min } from 'class-validator';

export class ReserveDto {
  @ApiProperty({ minimum: 1, maximum: 10, description: 'Seats to hold' })
  @IsInt()
  @Min(1)
  @Max(10)
  quantity!: number;
}
