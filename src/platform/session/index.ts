export { SessionModule } from './session.module';
export { type SessionModuleOptions } from './session.module-definition';
export {
  SessionService,
  type SessionUser,
  type SessionMeta,
  type Credential,
  type Authenticated,
} from './session.service';
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
export {
  type SessionRecord,
  type SessionStore,
  type SharedSessionStore,
  type SessionTouch,
  isSharedSessionStore,
  SESSION_STORE,
  InjectSessionStore,
} from './session.store';
export { RedisSessionStore, type RedisSessionStoreOptions } from './redis-session.store';
export { MemorySessionStore } from './memory-session.store';
export { SessionTokens, MAX_TOKEN_LENGTH } from './session-token';
export { unauthenticated, forbiddenRole, sessionStoreUnavailable } from './session.errors';
