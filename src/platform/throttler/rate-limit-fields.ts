import type { ThrottleRule } from './throttle.store';
import type { Check, TierPlan } from './throttle-plan';

// The IETF draft RateLimit header fields (draft-ietf-httpapi-ratelimit-headers): lists of items
// named by the policy (tier), with integer parameters.

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/** `"api";q=300;w=60`: the quota and its window in seconds. */
export const policyItem = (name: string, rule: ThrottleRule) => `"${name}";q=${rule.limit};w=${seconds(rule.windowMs)}`;

/** RateLimit-Policy for the tiers a request was checked against. */
export function policyField(checks: Check[]): string {
  const items = new Map<string, string>();
  for (const check of checks) items.set(check.tier.name, policyItem(check.tier.name, check.rule));
  return [...items.values()].join(', ');
}

/** RateLimit: per tier, the partition with the least left, `"api";r=299;t=60`. */
export function rateLimitField(tiers: TierPlan[], checks: Check[]): string {
  const items: string[] = [];
  for (const tier of tiers) {
    let remaining = Infinity;
    let resetMs = 0;
    for (const check of checks) {
      if (check.tier !== tier) continue;
      const { verdict } = check;
      const left = verdict.allowed ? Math.max(0, check.rule.limit - verdict.hits) : 0;
      const reset = verdict.allowed ? verdict.resetMs : verdict.retryAfterMs;
      if (left < remaining || (left === remaining && reset > resetMs)) {
        remaining = left;
        resetMs = reset;
      }
    }
    if (remaining !== Infinity) items.push(`"${tier.name}";r=${remaining};t=${seconds(resetMs)}`);
  }
  return items.join(', ');
}
