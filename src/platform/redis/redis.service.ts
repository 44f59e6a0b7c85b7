import { setTimeout as sleep } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Inject, Injectable, Logger, Optional, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { RedisOptions } from 'ioredis';
import { createRedisConnection, isRedisConfigured, type RedisClient } from './redis-connection.factory';
import { REDIS_MODULE_OPTIONS, type RedisModuleOptions } from './redis.module-definition';
import { RedisUnavailableError, type RedisState } from './redis-state';
import { RedisMetrics } from './redis.metrics';
// The metrics service directly, not the http barrel (which reaches the session module, a Redis user).
import { MetricsService } from '../http/metrics.service';

/** A Lua script registered once per connection and then called by SHA (ioredis falls back to EVAL on NOSCRIPT). */
export interface RedisScript {
  /** Unique command name, e.g. `boThrottleHit`. */
  name: string;
  lua: string;
  /** How many of the arguments are keys; multi-key scripts must use one hash tag for Cluster. */
  numberOfKeys: number;
}

export type RedisScriptCall<T> = (keys: string[], args?: (string | number)[]) => Promise<T>;

interface RedisStateEvents {
  state: [state: RedisState, previous: RedisState];
}

/**
 * Owns the request-path Redis connection and every connection derived from it.
 * Request-path commands fail fast: no offline queue, a short command timeout, no retries,
 * so a dead Redis costs milliseconds and each module applies its own failure policy.
 */
@Injectable()
export class RedisService extends EventEmitter<RedisStateEvents> implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  private readonly connections = new Set<RedisClient>();
  private readonly named = new Map<string, { connection: RedisClient; family: Set<RedisClient> }>();
  private readonly scripts = new WeakMap<RedisClient, Map<string, string>>();
  private readonly primary: RedisClient | null;
  private current: RedisState;
  private lastError?: Error;
  private closed = false;
  private readonly metrics?: RedisMetrics;

  constructor(
    @Inject(REDIS_MODULE_OPTIONS) private readonly options: RedisModuleOptions,
    @Optional() metrics?: MetricsService,
  ) {
    super();
    if (metrics) this.metrics = new RedisMetrics(metrics.registry, () => this.current);
    this.primary = isRedisConfigured(options)
      ? this.createConnection(
          {
            keyPrefix: this.prefix,
            enableOfflineQueue: false,
            commandTimeout: options.commandTimeoutMs ?? 250,
            maxRetriesPerRequest: 0,
          },
          'main',
        )
      : null;
    this.current = this.primary ? 'connecting' : 'not_configured';
    if (this.primary) this.track(this.primary);
  }

  /** True when Redis settings were given, whatever the connection state. */
  get configured(): boolean {
    return this.primary !== null;
  }

  get state(): RedisState {
    return this.current;
  }

  get isReady(): boolean {
    return this.current === 'ready';
  }

  /** The app-wide key prefix; the request-path client adds it to keys by itself, channels and queues add it by hand. */
  get prefix(): string {
    return this.options.keyPrefix ?? 'bo:';
  }

  /** Name of the app's connections in CLIENT LIST; derived connections append their role to it. */
  get connectionName(): string {
    return this.options.connectionName ?? 'box-office';
  }

  /** How long a start waits for Redis before serving on the failure policies. */
  get connectTimeoutMs(): number {
    return this.options.connectTimeoutMs ?? 2000;
  }

  /** The request-path client. Throws when Redis is not configured: check `configured` first. */
  get client(): RedisClient {
    if (!this.primary) throw new RedisUnavailableError('not_configured');
    return this.primary;
  }

  /** Hashes a user-controlled key part, so no caller can choose key names, lengths or hash tags. */
  static hashKeyPart(value: string): string {
    return createHash('sha256').update(value).digest('base64url').slice(0, 22);
  }

  /**
   * Opens another connection with the same address and credentials (a subscriber, a queue
   * connection). It is closed with the module; callers may close it earlier. `client` names its
   * owner in the `redis_*` metrics (and in CLIENT LIST unless `overrides` names the connection).
   */
  createConnection(overrides: RedisOptions = {}, client = 'shared'): RedisClient {
    if (!isRedisConfigured(this.options)) throw new RedisUnavailableError('not_configured');
    const connection = createRedisConnection(this.options, {
      connectionName: `${this.connectionName}:${client}`,
      ...overrides,
    });
    this.metrics?.instrument(connection, client);
    connection.on('error', () => undefined); // state listeners report errors; an unhandled 'error' would crash
    this.connections.add(connection);
    connection.once('end', () => this.connections.delete(connection));
    return connection;
  }

  /**
   * One connection per name, opened on first use with these settings: lets two parts of a module
   * (a library's factory and the service that shuts it down) share one connection. Its
   * duplicates (BullMQ makes one per blocking reader) are opened here too, so `endNamed` can
   * reach them.
   */
  namedConnection(name: string, overrides: RedisOptions = {}): RedisClient {
    const known = this.named.get(name);
    if (known) return known.connection;
    const connection = this.createConnection(overrides, name);
    const family = new Set<RedisClient>([connection]);
    if (!('nodes' in connection)) {
      connection.duplicate = ((more?: RedisOptions) => {
        const copy = this.createConnection({ ...overrides, ...more }, name);
        family.add(copy);
        return copy;
      }) as typeof connection.duplicate;
    }
    this.named.set(name, { connection, family });
    return connection;
  }

  /**
   * Ends a named connection and its duplicates now, whatever their state: pending commands
   * fail and reconnecting stops. ioredis leaves a reconnecting client in "reconnecting" on
   * disconnect() and never emits 'end', so whatever awaits 'end' (BullMQ's close) would wait
   * forever; the status and the event are set here instead.
   */
  endNamed(name: string): void {
    for (const connection of this.named.get(name)?.family ?? []) {
      connection.disconnect();
      if (connection.status !== 'end') {
        (connection as { status: string }).status = 'end';
        connection.emit('end');
      }
    }
  }

  /**
   * A connection of a module's own for request-path commands: its own timeout, no offline queue
   * and no retries, so an unusable Redis shows at once and the module's failure policy decides
   * instead of requests queueing behind it. Resolves once it is ready, or after the connect
   * timeout (until ready, every command on it fails at once).
   */
  async openFailFastConnection(commandTimeoutMs: number, client = 'shared'): Promise<RedisClient> {
    const connection = this.createConnection(
      {
        keyPrefix: this.prefix,
        enableOfflineQueue: false,
        commandTimeout: commandTimeoutMs,
        maxRetriesPerRequest: 0,
      },
      client,
    );
    void connection.connect().catch(() => undefined);
    const deadline = Date.now() + this.connectTimeoutMs;
    while (connection.status !== 'ready' && Date.now() < deadline) await sleep(10);
    return connection;
  }

  /**
   * Registers a Lua script on a connection (the request-path client by default) once and returns
   * a caller bound to it. Defining the same script again is harmless; a name that is taken (by a
   * Redis command or by another script) throws, so no caller silently runs something else.
   */
  defineScript<T>(script: RedisScript, connection: RedisClient = this.client): RedisScriptCall<T> {
    const client = connection as RedisClient & Record<string, (...args: (string | number)[]) => Promise<T>>;
    let scripts = this.scripts.get(connection);
    if (!scripts) this.scripts.set(connection, (scripts = new Map()));
    const known = scripts.get(script.name);
    if (known === undefined) {
      if (script.name in client) throw new Error(`Redis script name "${script.name}" is taken by a client method`);
      client.defineCommand(script.name, { lua: script.lua, numberOfKeys: script.numberOfKeys });
      scripts.set(script.name, script.lua);
    } else if (known !== script.lua) {
      throw new Error(`Redis script "${script.name}" is already defined with other Lua`);
    }
    return (keys, args = []) => client[script.name](...keys, ...args);
  }

  /**
   * Deletes every key whose name (after the app prefix) starts with `relativePrefix`: SCAN and
   * UNLINK on every master, never FLUSHDB, so nothing else on a shared Redis goes with it.
   */
  async deleteByPrefix(relativePrefix: string): Promise<void> {
    const client = this.client;
    const pattern = `${(this.prefix + relativePrefix).replace(/[*?[\]\\]/g, '\\$&')}*`;
    const masters = 'nodes' in client && typeof client.nodes === 'function' ? client.nodes('master') : [client];
    for (const node of masters) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        // SCAN answers with full names; the client adds the app prefix by itself.
        // One UNLINK per key: keys of one batch may sit in different Cluster slots.
        await Promise.all(keys.map((key) => client.unlink(key.slice(this.prefix.length))));
      } while (cursor !== '0');
    }
  }

  /** PING with its own deadline; resolves with the round-trip time in ms. */
  async ping(timeoutMs = this.options.commandTimeoutMs ?? 250): Promise<number> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisUnavailableError(this.current)), timeoutMs);
    });
    try {
      await Promise.race([this.client.ping(), timeout]);
      return Math.round((performance.now() - started) * 100) / 100;
    } catch (error) {
      throw error instanceof RedisUnavailableError ? error : new RedisUnavailableError(this.current, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  async onModuleInit(): Promise<void> {
    if (!this.primary) {
      this.logger.log('Redis not configured: platform modules use in-process stores');
      return;
    }
    // Start serving even if Redis is down: each module has a failure policy for that. Waiting
    // up to one connect timeout only spares the first requests a needless fallback.
    const deadline = new Promise((resolve) => setTimeout(resolve, this.connectTimeoutMs).unref());
    await Promise.race([this.primary.connect().catch(() => undefined), deadline]);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.connections].map((c) => closeConnection(c)));
    this.connections.clear();
  }

  private track(client: RedisClient): void {
    client.on('ready', () => this.transition('ready'));
    client.on('close', () => this.transition(this.current === 'ready' ? 'reconnecting' : 'down'));
    client.on('end', () => this.transition('down'));
    client.on('error', (error: Error) => {
      if (this.current !== 'down') this.lastError = error;
    });
  }

  private transition(next: RedisState): void {
    if (next === this.current || this.closed) return;
    const previous = this.current;
    this.current = next;
    if (next === 'ready') this.logger.log(`Redis ready (was ${previous})`);
    else this.logger.warn(`Redis ${next} (was ${previous})${this.lastError ? `: ${this.lastError.message}` : ''}`);
    this.lastError = undefined;
    this.emit('state', next, previous);
  }
}

/**
 * QUIT politely when the connection is up and wait (at most a second) for its socket to close;
 * anything else is dropped at once. (ioredis leaves a connection dropped between reconnect
 * attempts in `reconnecting` without emitting 'end', but no reconnect is scheduled after it.)
 */
async function closeConnection(connection: RedisClient): Promise<void> {
  if (connection.status !== 'ready') {
    connection.disconnect();
    return;
  }
  let giveUp: NodeJS.Timeout | undefined;
  const ended = new Promise<void>((resolve) => {
    connection.once('end', resolve);
    giveUp = setTimeout(() => {
      connection.disconnect();
      resolve();
    }, 1000);
  });
  try {
    await connection.quit().catch(() => connection.disconnect());
    await ended;
  } finally {
    clearTimeout(giveUp);
  }
}
