import { ConfigurableModuleBuilder } from '@nestjs/common';

export interface RedisNodeAddress {
  host: string;
  port: number;
}

export interface RedisModuleOptions {
  /** `redis://` or `rediss://` (TLS) URL. Unset, with no sentinels or cluster nodes, means Redis is not configured. */
  url?: string;
  /** Sentinel addresses; the URL then only supplies credentials, db and TLS. Default: none. */
  sentinels?: RedisNodeAddress[];
  /** Name of the Sentinel master group. Default `mymaster`. */
  sentinelName?: string;
  /** Cluster seed nodes; the URL then only supplies credentials and TLS. Default: none. */
  clusterNodes?: RedisNodeAddress[];
  /** Prefix of every key and channel the app uses, so one Redis can host several apps. Default `bo:`. */
  keyPrefix?: string;
  /** Request-path command timeout: a dead or stalled Redis answers with an error after this long. Default 250 ms. */
  commandTimeoutMs?: number;
  /** TCP connect timeout per attempt. Default 2000 ms. */
  connectTimeoutMs?: number;
  /** Name shown by CLIENT LIST, so operators can tell the app's connections apart. Default `box-office`. */
  connectionName?: string;
  /** Verify the server certificate on `rediss://`. Default true. */
  tlsRejectUnauthorized?: boolean;
}

export const {
  ConfigurableModuleClass: RedisConfigurableModule,
  MODULE_OPTIONS_TOKEN: REDIS_MODULE_OPTIONS,
  OPTIONS_TYPE: REDIS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: REDIS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<RedisModuleOptions>({ moduleName: 'Redis' })
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
