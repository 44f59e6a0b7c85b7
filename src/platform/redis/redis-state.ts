/**
 * - `not_configured`: no Redis settings; every platform module runs on its in-process store.
 * - `connecting`: configured, never reached yet.
 * - `ready`: commands are served.
 * - `reconnecting`: was ready, lost the connection, retrying.
 * - `down`: connection attempts are failing; the client keeps retrying with backoff.
 */
export type RedisState = 'not_configured' | 'connecting' | 'ready' | 'reconnecting' | 'down';

/** Raised by request-path helpers when Redis cannot serve: callers map it to their failure policy. */
export class RedisUnavailableError extends Error {
  constructor(
    readonly state: RedisState,
    options?: { cause?: unknown },
  ) {
    super(`Redis is unavailable (${state})`, options);
    this.name = 'RedisUnavailableError';
  }
}
