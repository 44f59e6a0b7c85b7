import { newSigningSecret, webhookSignature } from './webhook-signature';

describe('webhook signatures (Standard Webhooks)', () => {
  it("matches the specification's test vector", () => {
    const signature = webhookSignature(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      '{"test": 2432232314}',
    );
    expect(signature).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('makes 32-byte secrets with the whsec_ prefix, a new one each time', () => {
    const secret = newSigningSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(newSigningSecret()).not.toBe(secret);
  });

  it('signs the id, the timestamp and the body: changing any changes the signature', () => {
    const secret = newSigningSecret();
    const base = webhookSignature(secret, 'id', 1, '{}');
    expect(webhookSignature(secret, 'id2', 1, '{}')).not.toBe(base);
    expect(webhookSignature(secret, 'id', 2, '{}')).not.toBe(base);
    expect(webhookSignature(secret, 'id', 1, '{ }')).not.toBe(base);
  });
});
