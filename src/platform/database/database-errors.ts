/** SQLSTATE codes that mean the server cannot serve now, not that the query is wrong. */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
  '57014', // query_canceled (statement_timeout)
  '53300', // too_many_connections
  '53000', // insufficient_resources
  '08000', // connection_exception
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08003', // connection_does_not_exist
  '08006', // connection_failure
]);

/** Socket errors of the driver: the server is unreachable or went away. */
const UNAVAILABLE_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

// Messages of pg and pg-pool that carry no code: acquire timeout, client-side query timeout, lost connection.
const UNAVAILABLE_MESSAGE =
  /timeout exceeded when trying to connect|Connection terminated|Query read timeout|connection timeout|Client has encountered a connection error|Client was closed|Cannot use a pool after calling end|terminating connection/i;

/**
 * Whether an error from TypeORM or pg means the database is unavailable (down, frozen, overloaded
 * or too slow for the configured bounds). Such errors are answered 503 `database-unavailable` with
 * Retry-After instead of 500: the request was fine, the dependency was not.
 */
export function isDatabaseUnavailableError(error: unknown): boolean {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_ERRNOS.has(code))) return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return true;
    // TypeORM wraps the driver's error (QueryFailedError.driverError); Node wraps as `cause`.
    const next = current as { driverError?: unknown; cause?: unknown };
    current = next.driverError ?? next.cause;
  }
  return false;
}

/** What a client is told when the database is unavailable; the HTTP layer renders it. */
export const DATABASE_UNAVAILABLE = {
  type: 'database-unavailable',
  title: 'Database unavailable',
  detail: 'The database is unavailable or too slow right now; retry shortly.',
  retryAfterSeconds: 2,
} as const;
