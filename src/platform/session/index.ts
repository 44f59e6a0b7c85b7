export { SessionModule } from './session.module';
export { type SessionModuleOptions } from './session.module-definition';
export { SessionService, type SessionUser, type SessionMeta, type Credential } from './session.service';
export { SessionGuard } from './session.guard';
export {
  Public,
  Roles,
  CurrentUser,
  CurrentSession,
  type RequestAuth,
  IS_PUBLIC,
  REQUIRED_ROLES,
} from './session.decorators';
export { type SessionRecord, type SessionStore, SESSION_STORE, InjectSessionStore } from './session.store';
export { RedisSessionStore } from './redis-session.store';
export { MemorySessionStore } from './memory-session.store';
export { SessionTokens, MAX_TOKEN_LENGTH } from './session-token';
export { unauthenticated, forbiddenRole, sessionStoreUnavailable } from './session.errors';
