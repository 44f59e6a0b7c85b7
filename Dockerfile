# syntax=docker/dockerfile:1
# Box Office: production image. Build with `docker build -t box-office .`; run with at least
# NODE_ENV=production (set here), REDIS_URL and DATABASE_URL. See .env.example for every variable.

# ---- build: compile TypeScript with the dev dependencies, then drop them ----
FROM node:24-bookworm-slim AS build
WORKDIR /app

# Dependencies first, so a source change does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
# `nest build` emits dist/src (the app) and dist/migrations (run at start, DATABASE_RUN_MIGRATIONS).
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: compiled JavaScript and production dependencies only ----
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app

# Code stays owned by root and read-only to the app user. .data/ is the only writable place,
# for the embedded PGlite database when DATABASE_URL is unset (not the production setup).
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /app/.data && chown node:node /app/.data

USER node
EXPOSE 3000

# Liveness only (the process answers); readiness (/health/ready) belongs to the orchestrator.
# Slim images have no curl, so node's own fetch does the request.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live', { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# SIGTERM starts the graceful shutdown (readiness 503, drain SHUTDOWN_DRAIN_MS, finish in-flight
# requests, exit 0 within SHUTDOWN_TIMEOUT_MS). Exec form keeps node as PID 1 so it gets the
# signal directly; no npm or shell wrapper in between.
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main"]
