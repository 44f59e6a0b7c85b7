import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module';
import type { AppConfig } from './config';
import {
  createFastifyAdapter,
  createLogger,
  PinoNestLogger,
  serveOperationalRoutesOnly,
  setupOpenApi,
  useApiSecurityHeaders,
} from './platform/http';

/**
 * Builds (but does not start) the app for a validated configuration. `main.ts` and the e2e
 * tests share it, so the tests run exactly what production runs.
 */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  const logger = createLogger(config.LOG_LEVEL, config.LOG_FORMAT, config.NODE_ENV === 'production');
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config),
    createFastifyAdapter({ logger, bodyLimit: config.BODY_LIMIT_BYTES, trustedProxies: config.TRUSTED_PROXIES }),
    // bodyParser: false: the adapter's built-in JSON parser is the only one (see createFastifyAdapter).
    { logger: new PinoNestLogger(logger), abortOnError: false, bodyParser: false },
  );
  // A worker pod (API_ENABLED=false) answers its probes and metrics scrapes only.
  if (!config.API_ENABLED) serveOperationalRoutesOnly(app, ['/health', '/metrics']);
  useApiSecurityHeaders(app, {
    production: config.NODE_ENV === 'production',
    docsPath: config.DOCS_ENABLED ? '/docs' : undefined,
  });
  // Browsers say where a request comes from (Sec-Fetch-Site, Origin): cross-origin unsafe requests
  // are refused, so a session cookie cannot be ridden. API clients send neither header and pass.
  app.enableCsrfProtection({ trustedOrigins: config.CSRF_TRUSTED_ORIGINS ?? [] });
  if (config.DOCS_ENABLED) {
    setupOpenApi(app, {
      title: 'Box Office API',
      version: '0.1.0',
      description: 'Events, reservations, orders, payments, exports and webhooks. Errors are RFC 9457 problem+json.',
      probePaths: ['/health'],
    });
  }
  return app;
}
