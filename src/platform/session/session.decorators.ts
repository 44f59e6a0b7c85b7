import { createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import type { SessionRecord } from './session.store';
import type { SessionUser } from './session.service';

export const IS_PUBLIC = 'box-office:session:public';
export const REQUIRED_ROLES = 'box-office:session:roles';

/** The route needs no session (the guard's opt-out). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);

/** The session's user needs one of these roles. */
export const Roles = (...roles: string[]): MethodDecorator & ClassDecorator => SetMetadata(REQUIRED_ROLES, roles);

/** What the guard attaches to an authenticated request. */
export interface RequestAuth {
  user: SessionUser;
  session: SessionRecord;
  via: 'cookie' | 'bearer';
}

export const authOf = (context: ExecutionContext): RequestAuth | undefined =>
  context.switchToHttp().getRequest<{ auth?: RequestAuth }>().auth;

/** The authenticated user (`{ id, roles }`). */
export const CurrentUser = createParamDecorator((_: unknown, context: ExecutionContext) => authOf(context)?.user);

/** The current session record. */
export const CurrentSession = createParamDecorator((_: unknown, context: ExecutionContext) => authOf(context)?.session);
