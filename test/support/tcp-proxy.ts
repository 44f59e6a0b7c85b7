import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export type ProxyMode = 'pass' | 'cut' | 'freeze' | 'slow';

/**
 * A TCP proxy in front of a server that a test can fail: `cut` destroys every connection and
 * resets new ones (a stopped server), `freeze` keeps sockets open but forwards nothing (a hung
 * server, data is held and flushed on `pass`), `slow` delays every chunk by `latencyMs`.
 */
export interface TcpProxy {
  port: number;
  mode: ProxyMode;
  set(mode: ProxyMode, latencyMs?: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket; flush: () => void }>();
  let mode: ProxyMode = 'pass';
  let latencyMs = 0;

  const pipe = (from: Socket, to: Socket) => {
    const held: Buffer[] = [];
    from.on('data', (chunk: Buffer) => {
      if (mode === 'freeze' || held.length) held.push(chunk);
      else if (mode === 'slow') setTimeout(() => to.destroyed || to.write(chunk), latencyMs);
      else to.write(chunk);
    });
    return () => {
      while (held.length && mode !== 'freeze') to.write(held.shift()!);
    };
  };

  const server = createServer((client) => {
    client.on('error', () => undefined);
    if (mode === 'cut') {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    upstream.on('error', () => client.destroy());
    const up = pipe(client, upstream);
    const down = pipe(upstream, client);
    const pair = {
      client,
      upstream,
      flush: () => {
        up();
        down();
      },
    };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    port: (server.address() as AddressInfo).port,
    get mode() {
      return mode;
    },
    set(next, latency = 0) {
      mode = next;
      latencyMs = latency;
      if (next === 'cut')
        for (const { client, upstream } of pairs) {
          client.resetAndDestroy();
          upstream.destroy();
        }
      if (next !== 'freeze') for (const pair of pairs) pair.flush();
    },
    close: async () => {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
