import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMinSize, ArrayUnique, IsEmail, IsIn, IsOptional, IsString, Length } from 'class-validator';
import { ROLES, type Role } from '../user.entity';

const lowerTrim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim().toLowerCase() : value);

export class RegisterDto {
  @ApiProperty({ example: 'ada@example.com' })
  @Transform(lowerTrim)
  @IsEmail({}, { message: 'email must be an email address' })
  @Length(3, 254)
  email!: string;

  @ApiProperty({ minLength: 12, maxLength: 128, description: 'At least 12 characters (OWASP ASVS 2.1.1)' })
  @IsString()
  @Length(12, 128)
  password!: string;

  @ApiPropertyOptional({ enum: ['customer', 'organizer'], default: 'customer' })
  @IsOptional()
  @IsIn(['customer', 'organizer'])
  role?: 'customer' | 'organizer';
}

export class LoginDto {
  @ApiProperty()
  @Transform(lowerTrim)
  @IsString()
  @Length(1, 254)
  email!: string;

  @ApiProperty()
  @IsString()
  @Length(1, 128)
  password!: string;
}

export class ChangePasswordDto {
  @ApiProperty()
  @IsString()
  @Length(1, 128)
  currentPassword!: string;

  @ApiProperty({ minLength: 12, maxLength: 128, description: 'At least 12 characters (OWASP ASVS 2.1.1)' })
  @IsString()
  @Length(12, 128)
  newPassword!: string;
}

export class SetRolesDto {
  @ApiProperty({ enum: ROLES, isArray: true })
  @ArrayMinSize(1)
  @ArrayUnique()
  @IsIn(ROLES, { each: true })
  roles!: Role[];
}

export class UserDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() email!: string;
  @ApiProperty({ enum: ROLES, isArray: true }) roles!: Role[];
}

export class LoginResultDto {
  @ApiProperty({
    description: 'Send as `Authorization: Bearer <token>`; browsers get the same token as an HttpOnly cookie',
  })
  token!: string;
  @ApiProperty({ format: 'date-time', description: 'Absolute expiry; idle expiry slides with use' })
  expiresAt!: string;
  @ApiProperty({ type: UserDto }) user!: UserDto;
}

export class SessionViewDto {
  @ApiProperty() id!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) lastSeenAt!: string;
  @ApiProperty({ format: 'date-time' }) expiresAt!: string;
  @ApiProperty({ nullable: true, type: String }) userAgent!: string | null;
  @ApiProperty({ nullable: true, type: String }) ip!: string | null;
  @ApiProperty() current!: boolean;
}
