import { Body, Controller, Param, ParseUUIDPipe, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Roles, SessionService } from '../../platform/session';
import { SetRolesDto, UserDto } from './dto/auth.dto';
import { userNotFound } from './identity.errors';
import { UsersService } from './users.service';

@ApiTags('users')
@ApiBearerAuth()
@Controller('users')
export class UsersController {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
  ) {}

  /** A privilege change ends every session of the user: the next login carries the new roles. */
  @Roles('admin')
  @Put(':id/roles')
  @ApiOkResponse({ type: UserDto })
  @ApiNotFoundResponse({ description: 'user-not-found' })
  async setRoles(
    @Param('id', new ParseUUIDPipe({ exceptionFactory: () => userNotFound() })) id: string,
    @Body() dto: SetRolesDto,
  ): Promise<UserDto> {
    // Revoke before the change (an unreachable session store refuses it with 503, changing
    // nothing) and after it (a login that slipped in between carries the old roles).
    await this.sessions.revokeAll(id);
    const user = await this.users.setRoles(id, dto.roles);
    await this.sessions.revokeAll(user.id);
    return { id: user.id, email: user.email, roles: user.roles };
  }
}
