import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { IS_PUBLIC, REQUIRED_ROLES, type RequestAuth } from './session.decorators';
import { forbiddenRole, unauthenticated } from './session.errors';
import { SessionService } from './session.service';

type GuardedRequest = { headers: Record<string, string | string[] | undefined>; auth?: RequestAuth };

/**
 * Global guard: every route needs a live session unless marked `@Public()`; `@Roles()` narrows
 * it. Public routes never touch the session store, so they keep working while it is down.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly sessions: SessionService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;

    const request = context.switchToHttp().getRequest<GuardedRequest>();
    const credential = this.sessions.readCredential(request);
    if (!credential) throw unauthenticated();
    const session = await this.sessions.authenticate(credential.token);
    request.auth = { user: { id: session.userId, roles: session.roles }, session, via: credential.via };

    const roles = this.reflector.getAllAndOverride<string[] | undefined>(REQUIRED_ROLES, targets);
    if (roles?.length && !roles.some((role) => session.roles.includes(role))) throw forbiddenRole(roles);
    return true;
  }
}
