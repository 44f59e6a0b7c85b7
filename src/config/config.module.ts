import { Global, Inject, Module, type DynamicModule } from '@nestjs/common';
import type { Env } from './env.schema';

export const APP_CONFIG = Symbol('APP_CONFIG');
export type AppConfig = Readonly<Env>;

/** Injects the validated, typed configuration. */
export const InjectConfig = (): ParameterDecorator => Inject(APP_CONFIG);

/**
 * Holds one validated configuration object per application instance. The config is loaded
 * before Nest boots (so a bad environment never gets as far as opening connections) and passed
 * in, which also lets tests run several differently configured apps in one process.
 */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: APP_CONFIG, useValue: Object.freeze({ ...config }) }],
      exports: [APP_CONFIG],
    };
  }
}
