import { Logger } from '@nestjs/common';
import { RedisBreaker, RedisBreakerOpenError } from './redis-breaker';

const fail = () => Promise.reject(new Error('Command timed out'));

describe('RedisBreaker', () => {
  let logger: Logger;
  let warn: jest.SpyInstance;
  let log: jest.SpyInstance;

  beforeEach(() => {
    logger = new Logger('test');
    warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    log = jest.spyOn(logger, 'log').mockImplementation(() => undefined);
  });

  it('opens on the first failure, refuses at once without running the call, and logs once per outage', async () => {
    let healthy = false;
    const states: boolean[] = [];
    const breaker = new RedisBreaker({
      name: 'store',
      logger,
      probeIntervalMs: 10,
      probe: () => (healthy ? Promise.resolve() : fail()),
      onStateChange: (open) => states.push(open),
    });
    await expect(breaker.run(fail)).rejects.toThrow('Command timed out');
    expect(breaker.isOpen).toBe(true);
    const call = jest.fn(() => Promise.resolve(1));
    for (let i = 0; i < 100; i++) await expect(breaker.run(call)).rejects.toBeInstanceOf(RedisBreakerOpenError);
    expect(call).not.toHaveBeenCalled();
    breaker.failure(new Error('again')); // a failure while open logs nothing more
    expect(warn).toHaveBeenCalledTimes(1);

    healthy = true;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(breaker.isOpen).toBe(false);
    expect(log).toHaveBeenCalledTimes(1);
    expect(await breaker.run(call)).toBe(1);
    expect(states).toEqual([true, false]);
    breaker.stop();
    breaker.stop();
  });

  it('with a threshold, opens only after that many consecutive failures', async () => {
    const breaker = new RedisBreaker({ name: 'store', logger, failureThreshold: 3, probe: fail });
    await expect(breaker.run(fail)).rejects.toThrow();
    await expect(breaker.run(fail)).rejects.toThrow();
    await breaker.run(() => Promise.resolve()); // a success resets the count
    await expect(breaker.run(fail)).rejects.toThrow();
    await expect(breaker.run(fail)).rejects.toThrow();
    expect(breaker.isOpen).toBe(false);
    await expect(breaker.run(fail)).rejects.toThrow();
    expect(breaker.isOpen).toBe(true);
    breaker.stop();
  });
});
