export { ConfigModule, APP_CONFIG, InjectConfig, type AppConfig } from './config.module';
export { loadConfig, ConfigError } from './load-config';
export { queueShutdownTimeoutMs, type Env } from './env.schema';
