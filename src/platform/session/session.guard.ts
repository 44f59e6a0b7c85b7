import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { IS_PUBLIC, REQUIRED_ROLES, type RequestAuth } from './session.decorators';
import { forbiddenRole, unauthenticated } from './session.errors';
import { SessionService } from './session.service';

type GuardedRequest = { headers: Record<string, string | string[] | undefined>; auth?: RequestAuth };

interface RouteRule {
  isPublic: boolean;
  roles: string[] | undefined;
}

/**
 * Global guard: every route needs a live session unless marked `@Public()`; `@Roles()` narrows
 * it. Public routes never touch the session store, so they keep working while it is down.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  /** Metadata per class and handler, read once: a public route costs two map lookups. */
  private readonly rules = new WeakMap<object, WeakMap<object, RouteRule>>();

  constructor(
    private readonly reflector: Reflector,
    private readonly sessions: SessionService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const handler = context.getHandler();
    const type = context.getClass();
    let byHandler = this.rules.get(type);
    if (!byHandler) this.rules.set(type, (byHandler = new WeakMap()));
    let rule = byHandler.get(handler);
    if (!rule) byHandler.set(handler, (rule = this.ruleOf(context)));
    if (rule.isPublic || context.getType() !== 'http') return true;

    const request = context.switchToHttp().getRequest<GuardedRequest>();
    const credential = this.sessions.readCredential(request);
    if (!credential) throw unauthenticated();
    const { session, user } = await this.sessions.authenticateToken(credential.token);
    request.auth = { user, session, via: credential.via };

    const roles = rule.roles;
    if (roles?.length && !roles.some((role) => session.roles.includes(role))) throw forbiddenRole(roles);
    return true;
  }

  private ruleOf(context: ExecutionContext): RouteRule {
    // A base controller's method can serve several classes, so the class is part of the key.
    const targets = [context.getHandler(), context.getClass()];
    return {
      isPublic: this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets) ?? false,
      roles: this.reflector.getAllAndOverride<string[] | undefined>(REQUIRED_ROLES, targets),
    };
  }
}
