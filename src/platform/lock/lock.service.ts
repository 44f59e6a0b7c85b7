import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { LockBusyError, LockLostError, LockUnavailableError } from './lock.errors';
import { LOCK_STORE, type LockStore } from './lock.store';
import { LOCK_SETTINGS, type LockSettings } from './lock.module-definition';

export interface LockOptions {
  /** How long a hold lasts without renewal, in ms; the watchdog renews it every third of that. Default the module's (10 s). */
  ttl?: number;
  /** How long to wait for a busy lock, in ms, before LockBusyError. Default 0. */
  waitMs?: number;
}

/** A held lock. */
export interface LockHandle {
  readonly key: string;
  /** Greater than every token of an earlier hold of this key: give it to the write that the lock protects. */
  readonly token: number;
  /** Aborts when the hold is lost (renewal refused or impossible until the hold expired). */
  readonly signal: AbortSignal;
  /** Releases the lock (only ours: compare and delete); harmless twice. */
  release(): Promise<void>;
}

/**
 * Distributed locks with owner tokens, a watchdog that renews the hold while it is held, an
 * AbortSignal that fires if it is lost, and fencing tokens. Redis down: LockUnavailableError
 * (503); never a guess.
 */
@Injectable()
export class LockService {
  private readonly logger = new Logger('Lock');

  constructor(
    @Inject(LOCK_STORE) private readonly store: LockStore,
    @Inject(LOCK_SETTINGS) private readonly settings: LockSettings,
  ) {}

  async acquire(key: string, options: LockOptions = {}): Promise<LockHandle> {
    const ttl = options.ttl ?? this.settings.ttlMs;
    const owner = randomBytes(16).toString('base64url');
    const deadline = Date.now() + (options.waitMs ?? 0);
    for (let delay = 20; ; delay = Math.min(delay * 2, 200)) {
      const token = await this.call(() => this.store.acquire(key, owner, ttl));
      if (token !== null) return this.hold(key, owner, token, ttl);
      const left = deadline - Date.now();
      if (left <= 0) {
        const remaining = await this.store.remaining(key).catch(() => ttl);
        throw new LockBusyError(key, remaining || ttl);
      }
      // Jittered, so waiters that started together do not all retry at the same moment.
      await sleep(Math.min(delay * (0.5 + Math.random()), left));
    }
  }

  /** Runs `fn` holding the lock, and releases it whatever happens. */
  async withLock<T>(key: string, fn: (lock: LockHandle) => Promise<T>, options: LockOptions = {}): Promise<T> {
    const lock = await this.acquire(key, options);
    try {
      return await fn(lock);
    } finally {
      await lock.release();
    }
  }

  private hold(key: string, owner: string, token: number, ttl: number): LockHandle {
    const controller = new AbortController();
    let heldUntil = Date.now() + ttl;
    let released = false;
    const watchdog = setInterval(() => {
      const asked = Date.now();
      this.store.extend(key, owner, ttl).then(
        (held) => {
          if (held) heldUntil = asked + ttl;
          else lose();
        },
        () => {
          // Redis unreachable: the hold lasts until it expires, then it is lost.
          if (Date.now() >= heldUntil) lose();
        },
      );
    }, ttl / 3);
    watchdog.unref();
    const lose = () => {
      if (controller.signal.aborted || released) return;
      clearInterval(watchdog);
      this.logger.warn(`Lost the lock "${key}" before its work finished`);
      controller.abort(new LockLostError(key));
    };
    return {
      key,
      token,
      signal: controller.signal,
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(watchdog);
        await this.store.release(key, owner).catch(() => undefined); // an unreleased hold expires by itself
      },
    };
  }

  private async call<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw new LockUnavailableError('The lock store is unreachable', { cause: error });
    }
  }
}
