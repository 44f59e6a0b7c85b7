import { Inject } from '@nestjs/common';

/**
 * The lock store port. `owner` names one holder; a granted lock comes with a fencing token that
 * is greater than every token given out before for that key, so a write guarded by it can refuse
 * a stale holder (Kleppmann): the lock keeps work from being done twice, the database keeps it correct.
 */
export interface LockStore {
  /** Takes the lock if it is free: its fencing token, or null while another owner holds it. */
  acquire(key: string, owner: string, ttlMs: number): Promise<number | null>;
  /** Extends the owner's hold; false when it was lost (expired, taken by another owner). */
  extend(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the lock if the owner holds it (compare and delete); false otherwise. */
  release(key: string, owner: string): Promise<boolean>;
  /** How long the current hold has left, in ms (0 when free). */
  remaining(key: string): Promise<number>;
}

export const LOCK_STORE = Symbol('LOCK_STORE');
export const InjectLockStore = (): ParameterDecorator & PropertyDecorator => Inject(LOCK_STORE);
