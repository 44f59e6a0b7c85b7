import type { INestApplication, SecurityHeadersOptions } from '@nestjs/common';

/**
 * The OWASP REST set for JSON responses: nothing on an API response is meant to be rendered,
 * framed or sniffed. Browser-page headers (Origin-Agent-Cluster, X-DNS-Prefetch-Control,
 * X-Download-Options, …) are left out: they do nothing for JSON, and every header is written on
 * every response.
 */
export function apiSecurityHeaders(production: boolean): SecurityHeadersOptions {
  return {
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginOpenerPolicy: false,
    crossOriginResourcePolicy: { policy: 'same-origin' },
    originAgentCluster: false,
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: production,
    xContentTypeOptions: true,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xFrameOptions: { action: 'deny' },
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false,
  };
}

/** The OpenAPI UI is the one HTML page: it needs its own scripts, styles and images. */
const DOCS_CSP =
  "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";

interface FastifyLike {
  addHook(
    name: 'onSend',
    hook: (
      request: { url: string },
      reply: { header(name: string, value: string): unknown },
      payload: unknown,
      done: (error: null, payload: unknown) => void,
    ) => void,
  ): unknown;
}

export function useApiSecurityHeaders(
  app: INestApplication,
  options: { production: boolean; docsPath?: string },
): void {
  app.useSecurityHeaders(apiSecurityHeaders(options.production));
  const docsPath = options.docsPath;
  const fastify = app.getHttpAdapter().getInstance() as FastifyLike;
  if (!docsPath || typeof fastify.addHook !== 'function') return;
  fastify.addHook('onSend', (request, reply, payload, done) => {
    if (request.url.startsWith(docsPath)) reply.header('content-security-policy', DOCS_CSP);
    done(null, payload);
  });
}
