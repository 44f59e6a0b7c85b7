import { createHmac, randomBytes } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';

/**
 * A signing secret in the Standard Webhooks format: `whsec_` and 32 random bytes in base64. The
 * HMAC key is the decoded bytes, so the receiver can verify with any Standard Webhooks library.
 */
export const newSigningSecret = () => SECRET_PREFIX + randomBytes(32).toString('base64');

/**
 * The `Webhook-Signature` value (Standard Webhooks, https://www.standardwebhooks.com):
 * `v1,` + base64(HMAC-SHA256(key, "<Webhook-Id>.<Webhook-Timestamp>.<body>")). The timestamp is
 * in unix seconds and part of what is signed, so a receiver can refuse old or replayed messages.
 */
export function webhookSignature(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}
