import type { ThrottlerStorage } from '@nestjs/throttler';

/** What a storage answers per hit (@nestjs/throttler's record; times in seconds, as its guard expects). */
export type ThrottleRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;
