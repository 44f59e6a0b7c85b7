import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import {
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCookieAuth,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import {
  CurrentSession,
  CurrentUser,
  Public,
  SessionService,
  type SessionRecord,
  type SessionUser,
} from '../../platform/session';
import { Throttle, ThrottleFailuresOnly } from '../../platform/throttler';
import { ChangePasswordDto, LoginDto, LoginResultDto, RegisterDto, SessionViewDto, UserDto } from './dto/auth.dto';
import { sessionNotFound } from './identity.errors';
import { UsersService } from './users.service';
import type { Role, UserEntity } from './user.entity';

interface ClientRequest {
  headers: Record<string, string | string[] | undefined>;
  ip?: string;
}

const toUser = (user: UserEntity): UserDto => ({ id: user.id, email: user.email, roles: user.roles });

@ApiTags('auth')
@ApiBearerAuth()
@ApiCookieAuth()
@Controller('auth')
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  @Public()
  @Throttle({ auth: {} })
  @Post('register')
  @ApiCreatedResponse({ type: UserDto })
  @ApiConflictResponse({ description: 'email-taken: an account has this email' })
  async register(@Body() dto: RegisterDto): Promise<UserDto> {
    return toUser(await this.users.register(dto.email, dto.password, dto.role ?? 'customer'));
  }

  /**
   * Always a new token; a token the client already holds is revoked, never promoted. The auth
   * tier counts failed attempts per IP and per email (a successful login gives its hits back).
   */
  @Public()
  @Throttle({ auth: {} })
  @ThrottleFailuresOnly()
  @Post('login')
  @HttpCode(200)
  @ApiOkResponse({ type: LoginResultDto })
  async login(
    @Body() dto: LoginDto,
    @Req() request: ClientRequest,
    @Res({ passthrough: true }) reply: unknown,
  ): Promise<LoginResultDto> {
    const user = await this.users.verifyCredentials(dto.email, dto.password);
    const previous = this.sessions.readCredential(request);
    const presented = previous ? this.sessions.parse(previous.token) : null;
    const userAgent = request.headers['user-agent'];
    const { token, session } = await this.sessions.issue(
      { id: user.id, roles: user.roles, email: user.email },
      { userAgent: typeof userAgent === 'string' ? userAgent : null, ip: request.ip ?? null },
    );
    if (presented) await this.sessions.revokeToken(presented);
    this.adapterHost.httpAdapter.setCookie(reply, this.sessions.cookieName, token, this.sessions.cookieOptions);
    return { token, expiresAt: new Date(session.absoluteExpiresAt).toISOString(), user: toUser(user) };
  }

  @Post('logout')
  @HttpCode(204)
  async logout(
    @CurrentUser() user: SessionUser,
    @CurrentSession() session: SessionRecord,
    @Res({ passthrough: true }) reply: unknown,
  ): Promise<void> {
    await this.sessions.revoke(user.id, session.id);
    this.adapterHost.httpAdapter.clearCookie(reply, this.sessions.cookieName, this.sessions.cookieOptions);
  }

  /**
   * From the session alone: it carries the id, roles and email of its login, and a role change
   * revokes it. Sessions issued before emails were kept in them read the database.
   */
  @Get('me')
  @ApiOkResponse({ type: UserDto })
  async me(@CurrentUser() user: SessionUser): Promise<UserDto> {
    if (typeof user.email !== 'string') return toUser(await this.users.get(user.id));
    return { id: user.id, email: user.email, roles: user.roles as Role[] };
  }

  /**
   * Changes the password and revokes every other session of the user (OWASP: a password change
   * ends the sessions an attacker may hold); the caller's session stays. Failures count in the
   * auth throttle tier like failed logins.
   */
  @Throttle({ auth: {} })
  @ThrottleFailuresOnly()
  @Put('password')
  @HttpCode(204)
  async changePassword(
    @CurrentUser() user: SessionUser,
    @CurrentSession() session: SessionRecord,
    @Body() dto: ChangePasswordDto,
  ): Promise<void> {
    const account = await this.users.checkPassword(user.id, dto.currentPassword);
    // Revoke before the change too: an unreachable session store refuses it (503), changing nothing.
    await this.sessions.revokeAll(user.id, session.id);
    await this.users.setPassword(account, dto.newPassword);
    await this.sessions.revokeAll(user.id, session.id);
  }

  @Get('sessions')
  @ApiOkResponse({ type: [SessionViewDto] })
  async list(@CurrentUser() user: SessionUser, @CurrentSession() current: SessionRecord): Promise<SessionViewDto[]> {
    return (await this.sessions.list(user.id)).map((session) => ({
      id: session.id,
      createdAt: new Date(session.createdAt).toISOString(),
      lastSeenAt: new Date(session.lastSeenAt).toISOString(),
      expiresAt: new Date(session.absoluteExpiresAt).toISOString(),
      userAgent: session.userAgent,
      ip: session.ip,
      current: session.id === current.id,
    }));
  }

  @Delete('sessions/:id')
  @HttpCode(204)
  async revokeOne(@CurrentUser() user: SessionUser, @Param('id') id: string): Promise<void> {
    if (!(await this.sessions.revoke(user.id, id))) throw sessionNotFound();
  }

  /** Revokes every other session; `?all=true` revokes the current one too. */
  @Delete('sessions')
  @ApiQuery({ name: 'all', required: false, type: Boolean })
  @ApiOkResponse({
    description: 'How many sessions were revoked',
    schema: { type: 'object', required: ['revoked'], properties: { revoked: { type: 'integer', minimum: 0 } } },
  })
  async revokeOthers(
    @CurrentUser() user: SessionUser,
    @CurrentSession() current: SessionRecord,
    @Query('all') all?: string,
  ): Promise<{ revoked: number }> {
    return { revoked: await this.sessions.revokeAll(user.id, all === 'true' ? undefined : current.id) };
  }
}
