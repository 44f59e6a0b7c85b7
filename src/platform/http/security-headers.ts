import type { INestApplication, SecurityHeadersOptions } from '@nestjs/common';
import { resolveSecurityHeaders } from '@nestjs/core/security/security-headers.js';

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
    name: 'onRequest',
    hook: (request: unknown, reply: { headers(values: Record<string, string>): unknown }, done: () => void) => void,
  ): unknown;
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

/** The headers written on every response of a Fastify instance, for the paths that answer before any hook. */
const written = new WeakMap<object, readonly (readonly [string, string])[]>();

/** The security headers `useApiSecurityHeaders` writes on every response of `fastify` (none before it ran). */
export function securityHeadersOf(fastify: object): readonly (readonly [string, string])[] {
  return written.get(fastify) ?? [];
}

/**
 * Writes the API's security headers on every response. The set is resolved once by Nest's own
 * `useSecurityHeaders` resolver (same options, same validation) and written with one
 * `reply.headers()` in a Fastify hook: Nest's hook sets each header on the raw response, which
 * sends Node's `writeHead` down its slow merging path and cost a quarter of a bare route's
 * throughput here (docs/benchmarks.md, "Fixed cost"). On any other adapter Nest's hook does it.
 */
export function useApiSecurityHeaders(
  app: INestApplication,
  options: { production: boolean; docsPath?: string },
): void {
  const fastify = app.getHttpAdapter().getInstance() as FastifyLike;
  if (typeof fastify.addHook !== 'function') {
    app.useSecurityHeaders(apiSecurityHeaders(options.production));
    return;
  }
  const list = resolveSecurityHeaders(apiSecurityHeaders(options.production)).headers.map(
    ([name, value]) => [name.toLowerCase(), value] as const,
  );
  written.set(fastify, list);
  const fixed = Object.fromEntries(list);
  fastify.addHook('onRequest', (_request, reply, done) => {
    reply.headers(fixed);
    done();
  });
  const docsPath = options.docsPath;
  if (!docsPath) return;
  fastify.addHook('onSend', (request, reply, payload, done) => {
    if (request.url.startsWith(docsPath)) reply.header('content-security-policy', DOCS_CSP);
    done(null, payload);
  });
}
