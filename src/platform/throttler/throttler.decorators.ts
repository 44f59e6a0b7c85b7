import { SetMetadata } from '@nestjs/common';

export const THROTTLE_FAILURES_ONLY = 'box-office:throttle:failures-only';

/**
 * Hits of a response below 400 are given back, so the route's tiers count failed attempts only
 * (a login); `@ThrottleFailuresOnly(false)` undoes a class-level one. Every attempt still takes a slot while it runs: 1,000 concurrent guesses cannot
 * all pass before the first failure is counted.
 */
export const ThrottleFailuresOnly = (enabled = true): MethodDecorator & ClassDecorator =>
  SetMetadata(THROTTLE_FAILURES_ONLY, enabled);

// The package's decorators are the programming model: `@Throttle({ tier: { limit, ttl } })`
// applies a tier to a route (overriding its numbers when given), `@SkipThrottle()` skips every
// tier and `@SkipThrottle({ tier: true })` one.
export { SkipThrottle, Throttle } from '@nestjs/throttler';
