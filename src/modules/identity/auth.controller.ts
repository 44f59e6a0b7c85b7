import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ApiBearerAuth, ApiCookieAuth, ApiCreatedResponse, ApiOkResponse, ApiQuery, ApiTags } from '@nestjs/swagger';
import {
  CurrentSession,
  CurrentUser,
  Public,
  SessionService,
  type SessionRecord,
  type SessionUser,
} from '../../platform/session';
import { Throttle, ThrottleFailuresOnly } from '../../platform/throttler';
import { LoginDto, LoginResultDto, RegisterDto, SessionViewDto, UserDto } from './dto/auth.dto';
import { sessionNotFound } from './identity.errors';
import { UsersService } from './users.service';
import type { UserEntity } from './user.entity';

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
      { id: user.id, roles: user.roles },
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

  @Get('me')
  @ApiOkResponse({ type: UserDto })
  async me(@CurrentUser() user: SessionUser): Promise<UserDto> {
    return toUser(await this.users.get(user.id));
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
  async revokeOthers(
    @CurrentUser() user: SessionUser,
    @CurrentSession() current: SessionRecord,
    @Query('all') all?: string,
  ): Promise<{ revoked: number }> {
    return { revoked: await this.sessions.revokeAll(user.id, all === 'true' ? undefined : current.id) };
  }
}
