import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import { ApiHeader, ApiResponse } from '@nestjs/swagger';
import { IdempotencyInterceptor } from './idempotency.interceptor';
import type { IdempotentRequest } from './idempotency.module-definition';

export const IDEMPOTENT = 'box-office:idempotent';

export interface IdempotentOptions {
  /** A request without a key is refused with 400. Default true (false: such a request just runs). */
  required?: boolean;
  /** How long the completed response is replayed, in ms. Default the module's (24 h). */
  ttl?: number;
  /** `caller`: the user, or for anonymous callers the module's tenant. `tenant`: always the tenant. Default `caller`. */
  scope?: 'caller' | 'tenant';
  /** What makes two requests "the same payload". Default: method, route, its parameters and the JSON body. */
  fingerprint?: (request: IdempotentRequest) => unknown;
  /** While the first request runs, wait this long (ms) for its response instead of answering 409. Default 0. */
  wait?: number;
  /** Deduplication routes: take the key from this field of the JSON body instead of the Idempotency-Key header. */
  keyField?: string;
}

/**
 * Makes an unsafe handler idempotent (IETF draft "The Idempotency-Key HTTP Header Field",
 * Stripe's semantics): one execution per key, its response replayed with `Idempotent-Replayed: true`.
 */
export const Idempotent = (options: IdempotentOptions = {}) =>
  applyDecorators(
    SetMetadata(IDEMPOTENT, options),
    UseInterceptors(IdempotencyInterceptor),
    ...(options.keyField
      ? []
      : [
          ApiHeader({
            name: 'Idempotency-Key',
            required: options.required ?? true,
            description: 'A unique key per operation (at most 255 characters); retries reuse it',
          }),
        ]),
    ApiResponse({ status: 409, description: 'A request with this key is still running (problem+json, Retry-After)' }),
    ApiResponse({ status: 422, description: 'The key was used with another payload (problem+json)' }),
  );

/** Opts a handler out of a class-level `@Idempotent`. */
export const NotIdempotent = () => SetMetadata(IDEMPOTENT, false);
