import { Logger } from '@nestjs/common';
import type { RedisClient } from './redis-connection.factory';
import type { RedisService } from './redis.service';

export interface RedisSubscriptionOptions {
  /** Full channel name (add the app prefix yourself: channels are not prefixed by ioredis). */
  channel: string;
  /** Called for every message, in the order Redis published them. */
  onMessage(message: string): void;
  /** Called after every confirmed (re)subscription: whatever was published while away is lost. */
  onLive?(): void;
  /** Called once when a live subscription stops being live. */
  onLost?(): void;
  /** A heartbeat PING every this many ms proves the subscription still hears. Default 250 ms. */
  heartbeatMs?: number;
  /** SUBSCRIBE or a heartbeat not answered within this makes the connection reconnect. Default 2000 ms. */
  timeoutMs?: number;
}

/**
 * One channel on a connection of its own (named `<app>:sub:<channel>` in CLIENT LIST), which
 * resubscribes by hand after every reconnect and PINGs to prove it still hears.
 *
 * `coverage` is what a consumer may rely on: every message published after `since` and before
 * `upTo` has been delivered (a PONG on a subscribed connection comes after every message Redis
 * published before the PING). While the connection is down, `since` is Infinity: nothing is covered.
 */
export class RedisSubscription {
  private readonly logger = new Logger('Redis');
  private readonly connection: RedisClient;
  private readonly heartbeatMs: number;
  private readonly timeoutMs: number;
  private heartbeat?: NodeJS.Timeout;
  private since = Infinity;
  private upTo = 0;
  private pinging = false;
  private closed = false;

  constructor(
    redis: RedisService,
    private readonly options: RedisSubscriptionOptions,
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 250;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.connection = redis.createConnection(
      {
        autoResubscribe: false,
        enableOfflineQueue: true,
        connectionName: `${redis.connectionName}:sub:${options.channel}`,
      },
      'subscriber',
    );
    this.connection.on('ready', () => void this.subscribe());
    this.connection.on('close', () => this.lost());
    this.connection.on('message', (channel: string, message: string) => {
      if (channel === options.channel) options.onMessage(message);
    });
  }

  /** True while subscribed and hearing. */
  get live(): boolean {
    return this.since !== Infinity;
  }

  /** Messages published in [since, upTo] (epoch ms) have all been delivered. */
  get coverage(): { since: number; upTo: number } {
    return { since: this.since, upTo: this.upTo };
  }

  /** Starts connecting; resolves once live or after `waitMs`, whichever comes first. */
  async connect(waitMs = 2000): Promise<boolean> {
    if (this.closed) return false;
    void this.connection.connect().catch(() => undefined);
    const deadline = Date.now() + waitMs;
    while (!this.live && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    return this.live;
  }

  /** Ends the connection and the heartbeat; closing twice is harmless. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.lost();
    await this.connection.quit().catch(() => undefined);
    this.connection.disconnect();
  }

  private async subscribe(): Promise<void> {
    const sentAt = Date.now();
    try {
      await this.withTimeout(this.connection.subscribe(this.options.channel), 'SUBSCRIBE');
    } catch (error) {
      if (this.connection.status !== 'ready' || this.closed) return; // the next 'ready' subscribes again
      this.logger.warn(`subscription to ${this.options.channel} failed, reconnecting: ${(error as Error).message}`);
      this.connection.disconnect(true);
      return;
    }
    this.since = sentAt;
    this.upTo = sentAt;
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => void this.ping(), this.heartbeatMs);
    this.heartbeat.unref();
    this.options.onLive?.();
  }

  private async ping(): Promise<void> {
    if (this.pinging || !this.live) return;
    this.pinging = true;
    const sentAt = Date.now();
    try {
      await this.withTimeout(this.connection.ping(), 'PING');
      if (this.live) this.upTo = Math.max(this.upTo, sentAt);
    } catch {
      // A socket that stays open but no longer delivers (a frozen server, a silent network):
      // reconnect, and let coverage stop until a new subscription is confirmed.
      if (!this.closed && this.live) {
        this.lost();
        this.connection.disconnect(true);
      }
    } finally {
      this.pinging = false;
    }
  }

  private lost(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (!this.live) return;
    this.since = Infinity;
    this.options.onLost?.();
  }

  private async withTimeout<T>(operation: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} not answered in ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return await Promise.race([operation, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
