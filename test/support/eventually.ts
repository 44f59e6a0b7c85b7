import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls until `check` passes or `timeoutMs` is over, and returns the last value: for effects that
 * land in the background (a refresh, a sweep) and have no hook a client can wait on.
 */
export async function eventually<T>(
  probe: () => Promise<T>,
  check: (value: T) => boolean,
  timeoutMs = 5000,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!check(value) && Date.now() < deadline) {
    await sleep(intervalMs);
    value = await probe();
  }
  return value;
}
