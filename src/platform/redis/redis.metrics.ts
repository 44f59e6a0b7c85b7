import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RedisClient } from './redis-connection.factory';
import type { RedisState } from './redis-state';

const STATES: readonly RedisState[] = ['not_configured', 'connecting', 'ready', 'reconnecting', 'down'];

/**
 * Commands that wait for data by design (BullMQ's workers, subscribers): their time says nothing
 * about Redis, so they are counted but kept out of the latency histogram.
 */
const BLOCKING = new Set([
  'blpop',
  'brpop',
  'brpoplpush',
  'blmove',
  'blmpop',
  'bzpopmin',
  'bzpopmax',
  'bzmpop',
  'xread',
  'xreadgroup',
  'subscribe',
  'psubscribe',
  'ssubscribe',
]);

type Observer = { observe(seconds: number): void };
type Incrementer = { inc(): void };
interface SentCommand {
  name: string;
  promise: Promise<unknown>;
  [COUNTED]?: true;
}
/** Marks a command already counted: ioredis sends a command again when it flushes its offline queue. */
const COUNTED = Symbol('redisMetricsCounted');

/**
 * Redis as Prometheus sees it: commands, errors and latency per client (the module that owns the
 * connection: `main`, `cache`, `throttler`, `idempotency`, `lock`, `session`, `queue`, …), and the
 * request-path connection's state. None registered without a registry.
 */
export class RedisMetrics {
  private readonly duration: Histogram<'client'>;
  private readonly commands: Counter<'client'>;
  private readonly errors: Counter<'client'>;
  private readonly connections: Gauge<'client'>;
  private readonly open = new Map<string, number>();

  constructor(registry: Registry, state: () => RedisState) {
    const registers = [registry];
    this.duration = new Histogram({
      name: 'redis_command_duration_seconds',
      help: 'Redis command round trips by client (the module that owns the connection); blocking reads excluded',
      labelNames: ['client'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.commands = new Counter({
      name: 'redis_commands_total',
      help: 'Redis commands sent, by client',
      labelNames: ['client'] as const,
      registers,
    });
    this.errors = new Counter({
      name: 'redis_command_errors_total',
      help: 'Redis commands that failed or timed out, by client',
      labelNames: ['client'] as const,
      registers,
    });
    const open = this.open;
    this.connections = new Gauge({
      name: 'redis_connections',
      help: 'Open Redis connections, by client',
      labelNames: ['client'] as const,
      registers,
      collect() {
        for (const [client, count] of open) this.labels(client).set(count);
      },
    });
    new Gauge({
      name: 'redis_connection_state',
      help: "1 for the request-path connection's current state (not_configured, connecting, ready, reconnecting, down), 0 for the others",
      labelNames: ['state'] as const,
      registers,
      collect() {
        const current = state();
        for (const each of STATES) this.labels(each).set(each === current ? 1 : 0);
      },
    });
  }

  /** Counts and times every command of `connection` under `client`. */
  instrument(connection: RedisClient, client: string): void {
    const observe: Observer = this.duration.labels(client);
    const count: Incrementer = this.commands.labels(client);
    const fail: Incrementer = this.errors.labels(client);
    this.open.set(client, (this.open.get(client) ?? 0) + 1);
    connection.once('end', () => this.open.set(client, (this.open.get(client) ?? 1) - 1));
    const target = connection as unknown as { sendCommand(command: SentCommand, ...rest: unknown[]): unknown };
    const send = target.sendCommand.bind(target);
    target.sendCommand = (command: SentCommand, ...rest: unknown[]) => {
      const result = send(command, ...rest);
      if (command[COUNTED]) return result;
      command[COUNTED] = true;
      count.inc();
      if (BLOCKING.has(command.name)) {
        command.promise.catch(() => fail.inc());
        return result;
      }
      const started = performance.now();
      command.promise.then(
        () => observe.observe((performance.now() - started) / 1000),
        () => {
          fail.inc();
          observe.observe((performance.now() - started) / 1000);
        },
      );
      return result;
    };
  }
}
