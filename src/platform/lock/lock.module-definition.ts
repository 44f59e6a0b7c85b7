import { ConfigurableModuleBuilder } from '@nestjs/common';

export interface LockModuleOptions {
  /** Default hold time in ms, renewed every third of it while held. Default 10 s. */
  ttlMs?: number;
  /** Timeout of each lock command on Redis; past it the request answers 503 (fail closed). Default 1000 ms. */
  commandTimeoutMs?: number;
  /** Most locks held at once by the in-process store (Redis not configured). Default 100,000. */
  memoryMaxKeys?: number;
}

export const { ConfigurableModuleClass: LockConfigurableModule, MODULE_OPTIONS_TOKEN: LOCK_MODULE_OPTIONS } =
  new ConfigurableModuleBuilder<LockModuleOptions>({ moduleName: 'Lock' }).setClassMethodName('forRoot').build();

export const LOCK_DEFAULTS = {
  ttlMs: 10_000,
  commandTimeoutMs: 1000,
  memoryMaxKeys: 100_000,
} satisfies Required<LockModuleOptions>;

export type LockSettings = Required<LockModuleOptions>;

/** The options with their defaults applied. */
export const LOCK_SETTINGS = Symbol('LOCK_SETTINGS');
