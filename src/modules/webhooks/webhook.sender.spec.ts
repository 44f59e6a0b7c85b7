import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AddressPolicy } from './address-policy';
import { DestinationGuard, type Resolver } from './destination-guard';
import { WebhookSender } from './webhook.sender';

describe('WebhookSender', () => {
  let server: Server;
  let port: number;
  const seen: { headers: IncomingHttpHeaders; body: string }[] = [];
  let answer = 200;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ headers: req.headers, body });
        res.writeHead(answer, answer === 302 ? { Location: 'http://169.254.169.254/' } : {}).end('ignored');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(() => new Promise((resolve) => server.close(resolve)));

  beforeEach(() => {
    seen.length = 0;
    answer = 200;
  });

  /** A resolver whose answers change between calls: what a DNS rebinding attack looks like. */
  function rebinding(answers: string[]): Resolver & { calls: number } {
    const resolver = Object.assign(
      async () => [{ address: answers[Math.min(resolver.calls++, answers.length - 1)]!, family: 4 }],
      { calls: 0 },
    );
    return resolver;
  }

  const sender = (resolver: Resolver, allowed = ['127.0.0.1']) =>
    new WebhookSender(new DestinationGuard(new AddressPolicy(allowed), resolver), 2000);

  it('connects to the address it checked, keeping the host name in the Host header (no second lookup to rebind)', async () => {
    const resolver = rebinding(['127.0.0.1', '10.0.0.1']);
    const status = await sender(resolver).post(`http://hooks.test:${port}/in?x=1`, '{"a":1}', {
      'Content-Type': 'application/json',
    });
    expect(status).toBe(200);
    expect(resolver.calls).toBe(1);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers.host).toBe(`hooks.test:${port}`);
    expect(seen[0]!.headers['content-length']).toBe('7');
    expect(seen[0]!.body).toBe('{"a":1}');
  });

  it('refuses before connecting when the host now resolves to a forbidden address', async () => {
    await expect(sender(rebinding(['10.0.0.1'])).post(`http://hooks.test:${port}/`, '{}', {})).rejects.toThrow(
      /resolves to 10\.0\.0\.1 \(private\)/,
    );
    await expect(sender(rebinding(['127.0.0.1']), []).post(`http://hooks.test:${port}/`, '{}', {})).rejects.toThrow(
      /loopback/,
    );
    expect(seen).toHaveLength(0);
  });

  it('reports a redirect as its status and does not follow it', async () => {
    answer = 302;
    expect(await sender(rebinding(['127.0.0.1'])).post(`http://hooks.test:${port}/`, '{}', {})).toBe(302);
    expect(seen).toHaveLength(1);
  });

  it('fails an attempt that gets no answer in time', async () => {
    const hung = createServer(() => undefined);
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const hungPort = (hung.address() as AddressInfo).port;
    const quick = new WebhookSender(new DestinationGuard(new AddressPolicy(['127.0.0.1'])), 200);
    try {
      await expect(quick.post(`http://127.0.0.1:${hungPort}/`, '{}', {})).rejects.toThrow(/timed out after 200 ms/);
    } finally {
      hung.closeAllConnections();
      await new Promise((resolve) => hung.close(resolve));
    }
  });
});
