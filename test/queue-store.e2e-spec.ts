import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, type Type } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  getJobQueueToken,
  JobProcessor,
  QueueDriver,
  QueueFullError,
  QueueModule,
  QueueUnavailableError,
  UnrecoverableError,
  WorkerHost,
  type EnqueueOptions,
  type JobEvent,
  type JobQueue,
  type JobView,
  type QueueJob,
  type QueueModuleOptions,
} from '../src/platform/queue';
import { RedisModule, type RedisModuleOptions } from '../src/platform/redis';
import { SessionModule } from '../src/platform/session';
import { eventually } from './support/eventually';
import type { RedisProcess } from './support/redis';
import { TEST_REDIS_URL, uniquePrefix } from './support/redis';
import { redisHarness } from './support/redis-harness';
import { settle } from './support/settle';

// One contract, two drivers: every case in the `describe.each` below holds for BullMQ on the shared
// Redis and for the in-process queue (Redis not configured) alike. Each test builds a small Nest
// app around QueueModule with a processor whose behaviour the job's data scripts. Failure paths
// of each driver (a private redis-server killed or paused; the in-process bound) follow.

const QUEUE = 'contract';

/** What the test processor does with a job: the job's data. */
interface Script {
  /** Attempts that throw before one succeeds. */
  failures?: number;
  /** Throws BullMQ's UnrecoverableError. */
  unrecoverable?: boolean;
  /** Waits until the test opens this gate. */
  gate?: string;
  /** Progress reported in order, after the gate. */
  progress?: (number | object)[];
  /** Takes this long; stops early when the signal aborts. */
  sleepMs?: number;
  /** What it returns. */
  result?: unknown;
}

interface Run {
  id: string;
  /** Failed attempts before this one, as the processor saw them. */
  attemptsMade: number;
  startedAt: number;
  endedAt?: number;
  outcome?: 'returned' | 'threw';
}

/** Shared by the test and the processor: a log of runs, and gates the test opens. */
class Recorder extends EventEmitter {
  readonly runs: Run[] = [];
  private readonly gates = new Map<string, { opened: Promise<void>; open: () => void }>();

  gate(name: string) {
    let gate = this.gates.get(name);
    if (!gate) {
      let open = () => undefined as void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      this.gates.set(name, (gate = { opened, open }));
    }
    return gate;
  }

  open(...names: string[]): void {
    for (const name of names) this.gate(name).open();
  }

  openAll(): void {
    for (const gate of this.gates.values()) gate.open();
  }

  runsOf(id: string): Run[] {
    return this.runs.filter((run) => run.id === id);
  }

  record(run: Run): void {
    this.runs.push(run);
    this.emit('change');
  }

  changed(): void {
    this.emit('change');
  }

  /** Resolves once `check` holds for the runs; rejects after `timeoutMs`. */
  until(check: (runs: Run[]) => boolean, timeoutMs = 10_000): Promise<Run[]> {
    if (check(this.runs)) return Promise.resolve(this.runs);
    return new Promise((resolve, reject) => {
      const onChange = () => {
        if (!check(this.runs)) return;
        cleanUp();
        resolve(this.runs);
      };
      const timer = setTimeout(() => {
        cleanUp();
        reject(new Error(`runs did not get there within ${timeoutMs} ms: ${JSON.stringify(this.runs)}`));
      }, timeoutMs);
      const cleanUp = () => {
        clearTimeout(timer);
        this.off('change', onChange);
      };
      this.on('change', onChange);
    });
  }

  started(id: string, count = 1) {
    return this.until((runs) => runs.filter((run) => run.id === id).length >= count);
  }

  ended(id: string) {
    return this.until((runs) => runs.some((run) => run.id === id && run.endedAt !== undefined));
  }
}

@Injectable()
abstract class ScriptedProcessor extends WorkerHost {
  constructor(@Inject(Recorder) private readonly recorder: Recorder) {
    super();
  }

  async process(job: QueueJob<Script>, _token?: string, signal?: AbortSignal): Promise<unknown> {
    const script = job.data;
    const run: Run = { id: job.id as string, attemptsMade: job.attemptsMade, startedAt: Date.now() };
    this.recorder.record(run);
    try {
      if (script.gate) await this.recorder.gate(script.gate).opened;
      for (const progress of script.progress ?? []) await job.updateProgress(progress);
      if (script.sleepMs) await sleep(script.sleepMs, undefined, { signal }).catch(() => undefined);
      if (script.unrecoverable) throw new UnrecoverableError('cannot ever work');
      if (job.attemptsMade < (script.failures ?? 0)) throw new Error(`attempt ${job.attemptsMade + 1} failed`);
      run.outcome = 'returned';
      return script.result ?? null;
    } catch (error) {
      run.outcome = 'threw';
      throw error;
    } finally {
      run.endedAt = Date.now();
      this.recorder.changed();
    }
  }
}

@JobProcessor(QUEUE, { concurrency: 4 })
class ContractProcessor extends ScriptedProcessor {}

@JobProcessor(QUEUE, { concurrency: 1 })
class SerialProcessor extends ScriptedProcessor {}

/** Short locks and grace periods: the cases are about behaviour, not the production defaults. */
const SETTINGS: QueueModuleOptions = {
  lockDurationMs: 5000,
  stalledIntervalMs: 5000,
  shutdownTimeoutMs: 3000,
  commandTimeoutMs: 1000,
  memoryMaxJobs: 1000,
  dashboardPath: false,
};

interface AppOptions {
  redis: RedisModuleOptions;
  queue?: QueueModuleOptions;
  /** The queue's processor; null for none. Default: concurrency 4. */
  processor?: Type<ScriptedProcessor> | null;
  defaults?: EnqueueOptions;
  /** Leave the app compiled but not started (no lifecycle hooks have run). */
  start?: boolean;
}

interface Rig {
  app: TestingModule;
  queue: JobQueue<Script>;
  driver: QueueDriver;
  start(): Promise<void>;
  /** app.close(), once; resolves with how long it took. */
  close(): Promise<number>;
}

// Closing first: these hooks run before the harness's (same block, registration order), so apps are
// down before private servers stop and shared keys go.
const recorders: Recorder[] = [];
const rigs: Rig[] = [];
const servers: RedisProcess[] = [];
afterEach(async () => {
  for (const recorder of recorders.splice(0)) recorder.openAll();
  // A paused server would make every polite QUIT wait for its timeout.
  for (const server of servers.splice(0)) server.resume();
  await Promise.all(rigs.splice(0).map((rig) => rig.close()));
});

const { sharedPrefixes, privateRedis } = redisHarness('queue');

beforeAll(() => Logger.overrideLogger(false));

function newRecorder(): Recorder {
  const recorder = new Recorder();
  recorders.push(recorder);
  return recorder;
}

/**
 * A Nest application context with RedisModule, SessionModule (QueueModule's dashboard provider
 * needs SessionService even when the dashboard is off), QueueModule and the queue under test.
 */
async function openApp(recorder: Recorder, options: AppOptions): Promise<Rig> {
  const { redis, queue = {}, processor = ContractProcessor, defaults, start = true } = options;
  const app = await Test.createTestingModule({
    imports: [
      RedisModule.forRoot(redis),
      SessionModule.forRoot({ secret: randomBytes(48).toString('base64url') }),
      QueueModule.forRoot({ ...SETTINGS, ...queue }),
      QueueModule.registerQueue({ name: QUEUE, defaultJobOptions: defaults }),
    ],
    providers: [{ provide: Recorder, useValue: recorder }, ...(processor ? [processor] : [])],
  }).compile();
  let closing: Promise<number> | undefined;
  const rig: Rig = {
    app,
    queue: app.get<JobQueue<Script>>(getJobQueueToken(QUEUE)),
    driver: app.get(QueueDriver),
    start: async () => {
      await app.init();
    },
    close: () =>
      (closing ??= (async () => {
        const started = performance.now();
        await app.close();
        return performance.now() - started;
      })()),
  };
  rigs.push(rig);
  if (start) {
    await rig.start();
    if (redis.url) await producerConnected(rig.queue);
  }
  return rig;
}

/**
 * QueueDriver does not wait for its producer connection at start, and `add` refuses (503) until it
 * is ready: an add right after init can fail. A get waits for the connection, so it marks the moment.
 */
async function producerConnected(queue: JobQueue): Promise<void> {
  await queue.get(randomUUID());
}

const isoDate = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

/** The job once it is in a state that `check` accepts (or whatever it is after `timeoutMs`). */
const jobOnce = (queue: JobQueue, id: string, check: (view: JobView | null) => boolean, timeoutMs = 10_000) =>
  eventually(() => queue.get(id), check, timeoutMs);
const finished = (queue: JobQueue, id: string, timeoutMs?: number) =>
  jobOnce(queue, id, (view) => view?.state === 'completed' || view?.state === 'failed', timeoutMs);

/** Collects a job's events; `done` resolves at its completed or failed event. */
function listen() {
  const events: JobEvent[] = [];
  let settleDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (settleDone = resolve));
  const listener = (event: JobEvent) => {
    events.push(event);
    if (event.type === 'completed' || event.type === 'failed') settleDone();
  };
  return { events, listener, done };
}

/** Rejects if `promise` takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe.each<[string, () => RedisModuleOptions]>([
  [
    'bullmq driver (shared Redis)',
    () => {
      const keyPrefix = uniquePrefix('queue');
      sharedPrefixes.push(keyPrefix);
      return { url: TEST_REDIS_URL, keyPrefix, commandTimeoutMs: 5000 };
    },
  ],
  ['memory driver (Redis not configured)', () => ({})],
])('%s', (name, redisOptions) => {
  const kind = name.startsWith('bullmq') ? 'bullmq' : 'memory';
  let redis: RedisModuleOptions;
  let recorder: Recorder;
  const open = (options: Omit<AppOptions, 'redis'> = {}) => openApp(recorder, { redis, ...options });

  beforeEach(() => {
    redis = redisOptions();
    recorder = newRecorder();
  });

  it(`runs on the ${kind} driver`, async () => {
    const { driver } = await open();
    expect(driver.kind).toBe(kind);
  });

  it('answers add with a view of the new job: waiting, prioritized or delayed', async () => {
    const { queue } = await open();
    const before = Date.now();
    const plain = await queue.add('greet', { result: 'hello' }, { attempts: 3 });
    const after = Date.now();
    expect(plain).toEqual({
      id: expect.stringMatching(/^[A-Za-z0-9_-]{1,128}$/),
      queue: QUEUE,
      name: 'greet',
      state: 'waiting',
      progress: 0,
      attemptsMade: 0,
      attempts: 3,
      createdAt: isoDate,
    });
    expect(Date.parse(plain.createdAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(plain.createdAt)).toBeLessThanOrEqual(after);

    const prioritized = await queue.add('greet', {}, { priority: 5 });
    expect(prioritized).toMatchObject({ state: 'prioritized', attempts: 1 });
    const delayed = await queue.add('greet', {}, { delay: 60_000, priority: 5 });
    expect(delayed).toMatchObject({ state: 'delayed' });
    expect(new Set([plain.id, prioritized.id, delayed.id]).size).toBe(3);
    expect(await queue.get(delayed.id)).toMatchObject({ id: delayed.id, state: 'delayed', name: 'greet' });
  });

  it("starts each job from the queue's default options, under the job's own", async () => {
    const { queue } = await open({ processor: null, defaults: { attempts: 4, priority: 7 } });
    expect(await queue.add('defaults', {})).toMatchObject({ attempts: 4, state: 'prioritized' });
    const own = await queue.add('own', {}, { attempts: 2, delay: 60_000 });
    expect(own).toMatchObject({ attempts: 2, state: 'delayed' });
    expect(await queue.get(own.id)).toMatchObject({ attempts: 2, state: 'delayed' });
  });

  it('answers get with null for unknown and malformed ids', async () => {
    const { queue } = await open();
    await queue.add('greet', {});
    for (const id of [randomUUID(), 'nope', '', 'a b', '../etc/passwd', 'a:b', '{bull}', 'x'.repeat(129), 'é']) {
      expect(await queue.get(id)).toBeNull();
    }
    await expect(queue.add('greet', {}, { jobId: 'not ok' })).rejects.toThrow(/Invalid job id/);
  });

  it('completes a job with its result and finishedAt', async () => {
    const { queue } = await open();
    const result = { rows: 3, files: ['a.csv'], nested: { ok: true } };
    const added = await queue.add('export', { result });
    const done = await finished(queue, added.id);
    // BullMQ counts the attempt that succeeded: attemptsMade is 1.
    expect(done).toEqual({
      ...added,
      state: 'completed',
      result,
      attemptsMade: 1,
      finishedAt: isoDate,
    });
    expect(Date.parse(done!.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(done!.createdAt));
    expect(recorder.runsOf(added.id)).toHaveLength(1);
  });

  it('retries with exponential backoff and jitter: fails twice, then succeeds on the 3rd attempt', async () => {
    const { queue } = await open();
    const delay = 400;
    const jitter = 0.5;
    const added = await queue.add(
      'flaky',
      { failures: 2, result: 'third time lucky' },
      { attempts: 5, backoff: { type: 'exponential', delay, jitter } },
    );
    const done = await finished(queue, added.id);
    expect(done).toMatchObject({ state: 'completed', result: 'third time lucky', attemptsMade: 3, attempts: 5 });
    expect(done?.failedReason).toBeUndefined();
    const runs = recorder.runsOf(added.id);
    expect(runs.map((run) => [run.attemptsMade, run.outcome])).toEqual([
      [0, 'threw'],
      [1, 'threw'],
      [2, 'returned'],
    ]);
    // The wait before try k+1 is within [(1 - jitter)·d·2^(k-1), d·2^(k-1)], plus scheduling slack.
    for (let k = 1; k < runs.length; k++) {
      const gap = runs[k]!.startedAt - runs[k - 1]!.endedAt!;
      const most = delay * 2 ** (k - 1);
      expect(gap).toBeGreaterThanOrEqual((1 - jitter) * most - 5);
      expect(gap).toBeLessThanOrEqual(most + 300);
    }
  });

  it('fails a job for good after its attempts, with the last failure reason', async () => {
    const { queue } = await open();
    const added = await queue.add('doomed', { failures: 99 }, { attempts: 3, backoff: 50 });
    const done = await finished(queue, added.id);
    expect(done).toEqual({
      ...added,
      state: 'failed',
      attemptsMade: 3,
      failedReason: 'attempt 3 failed',
      finishedAt: isoDate,
    });
    expect(recorder.runsOf(added.id)).toHaveLength(3);
  });

  it('fails a job at once on UnrecoverableError, whatever attempts are left', async () => {
    const { queue } = await open();
    const added = await queue.add('hopeless', { unrecoverable: true }, { attempts: 5, backoff: 50 });
    const done = await finished(queue, added.id);
    expect(done).toMatchObject({ state: 'failed', failedReason: 'cannot ever work', attemptsMade: 1, attempts: 5 });
    // Had it been retried, a second run would start within the 50 ms backoff.
    await sleep(300);
    expect(recorder.runsOf(added.id)).toHaveLength(1);
  });

  it('runs waiting jobs by priority (none first, then 1, 2, …; arrival order within one) with concurrency 1', async () => {
    const { queue } = await open({ processor: SerialProcessor });
    const blocker = await queue.add('block', { gate: 'blocker' });
    await recorder.started(blocker.id);
    // Added while the only slot is taken: the order they run in is the queue's alone.
    const ids: Record<string, string> = {};
    for (const [label, priority] of [
      ['p3', 3],
      ['p1', 1],
      ['p2a', 2],
      ['none', undefined],
      ['p2b', 2],
    ] as const) {
      const view = await queue.add(label, {}, priority === undefined ? {} : { priority });
      expect(view.state).toBe(priority === undefined ? 'waiting' : 'prioritized');
      ids[view.id] = label;
    }
    recorder.open('blocker');
    await recorder.until((runs) => runs.length === 6 && runs.every((run) => run.endedAt !== undefined));
    expect(recorder.runs.slice(1).map((run) => ids[run.id])).toEqual(['none', 'p1', 'p2a', 'p2b', 'p3']);
  });

  it('keeps a delayed job delayed until its delay is over', async () => {
    const { queue } = await open();
    const added = await queue.add('later', { result: 'late' }, { delay: 700 });
    const addedAt = Date.now();
    expect(added.state).toBe('delayed');
    await sleep(300);
    expect(await queue.get(added.id)).toMatchObject({ state: 'delayed' });
    expect(recorder.runsOf(added.id)).toHaveLength(0);
    const [run] = await recorder.started(added.id).then(() => recorder.runsOf(added.id));
    expect(run!.startedAt - addedAt).toBeGreaterThanOrEqual(700 - 20);
    expect(run!.startedAt - addedAt).toBeLessThan(700 + 1000);
    expect(await finished(queue, added.id)).toMatchObject({ state: 'completed', result: 'late' });
  });

  it('adds a job id once: a second add returns the same job, which runs once', async () => {
    const { queue } = await open();
    const jobId = `order-${randomBytes(6).toString('hex')}`;
    const first = await queue.add('charge', { gate: 'charge', result: 'charged' }, { jobId });
    expect(first).toMatchObject({ id: jobId, name: 'charge' });
    await recorder.started(jobId);
    const again = await queue.add('charge-again', { result: 'twice' }, { jobId });
    expect(again).toMatchObject({ id: jobId, name: 'charge', state: 'active' });
    recorder.open('charge');
    expect(await finished(queue, jobId)).toMatchObject({ state: 'completed', result: 'charged' });
    // Retained after it finished: still the same job.
    expect(await queue.add('charge', { result: 'thrice' }, { jobId })).toMatchObject({
      id: jobId,
      state: 'completed',
      result: 'charged',
    });
    await sleep(300);
    expect(recorder.runsOf(jobId)).toHaveLength(1);
  });

  it('deduplicates by id within the ttl: a second add returns the first job, which runs once', async () => {
    const { queue } = await open();
    const deduplication = { id: `report-${randomBytes(6).toString('hex')}`, ttl: 5000 };
    const first = await queue.add('report', { gate: 'report', result: 1 }, { deduplication });
    const second = await queue.add('report', { result: 2 }, { deduplication });
    expect(second.id).toBe(first.id);
    recorder.open('report');
    expect(await finished(queue, first.id)).toMatchObject({ state: 'completed', result: 1 });
    // Finished, but within the ttl: still deduplicated.
    expect((await queue.add('report', { result: 3 }, { deduplication })).id).toBe(first.id);
    await sleep(300);
    expect(recorder.runs.map((run) => run.id)).toEqual([first.id]);
    // Another deduplication id is another job.
    const other = await queue.add('report', { result: 4 }, { deduplication: { id: `${deduplication.id}-b` } });
    expect(other.id).not.toBe(first.id);
  });

  it('deduplicates as BullMQ does: with a ttl for that long only (even while the job runs), without one until it finishes', async () => {
    const { queue } = await open();
    const throttled = { id: `throttled-${randomBytes(6).toString('hex')}`, ttl: 200 };
    const first = await queue.add('report', { gate: 'long' }, { deduplication: throttled });
    await recorder.started(first.id);
    await sleep(200 + 200);
    const afterTtl = await queue.add('report', {}, { deduplication: throttled });
    expect(afterTtl.id).not.toBe(first.id);

    const plain = { id: `plain-${randomBytes(6).toString('hex')}` };
    const held = await queue.add('report', { gate: 'plain' }, { deduplication: plain });
    await recorder.started(held.id);
    expect((await queue.add('report', {}, { deduplication: plain })).id).toBe(held.id);
    recorder.open('plain');
    await finished(queue, held.id);
    expect((await queue.add('report', {}, { deduplication: plain })).id).not.toBe(held.id);
  });

  it('forgets a completed job at once with removeOnComplete: true', async () => {
    const { queue } = await open();
    const added = await queue.add('ephemeral', { result: 'gone' }, { removeOnComplete: true });
    await recorder.ended(added.id);
    expect(await jobOnce(queue, added.id, (view) => view === null)).toBeNull();
    expect(recorder.runsOf(added.id)).toEqual([expect.objectContaining({ outcome: 'returned' })]);
  });

  it('keeps only the last 2 completed jobs with removeOnComplete: 2', async () => {
    const { queue } = await open();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const added = await queue.add('kept', { result: i }, { removeOnComplete: 2 });
      expect(await finished(queue, added.id)).toMatchObject({ state: 'completed', result: i });
      ids.push(added.id);
    }
    const views = await Promise.all(ids.map((id) => queue.get(id)));
    expect(views.map((view) => view?.result ?? null)).toEqual([null, null, 2, 3]);
  });

  it('tells a watcher its job’s progress in order, then its completion or failure, and nothing of other jobs', async () => {
    const { queue } = await open();
    const a = await queue.add('a', { gate: 'a', progress: [10, { rows: 5, percent: 50 }, 100], result: 'A' });
    const b = await queue.add('b', { gate: 'b', progress: [1, 2], result: 'B' });
    const c = await queue.add('c', { gate: 'c', progress: [7], unrecoverable: true }, { attempts: 3 });
    const e = await queue.add('e', { gate: 'c', failures: 1, result: 'E' }, { attempts: 2, backoff: 100 });
    const onA = listen();
    const onC = listen();
    const onE = listen();
    await queue.watch(a.id, onA.listener);
    await queue.watch(c.id, onC.listener);
    await queue.watch(e.id, onE.listener);
    recorder.open('a', 'b', 'c');
    await within(Promise.all([onA.done, onC.done, onE.done]), 10_000, 'terminal events');
    expect(onA.events).toEqual([
      { type: 'progress', jobId: a.id, progress: 10 },
      { type: 'progress', jobId: a.id, progress: { rows: 5, percent: 50 } },
      { type: 'progress', jobId: a.id, progress: 100 },
      { type: 'completed', jobId: a.id, result: 'A' },
    ]);
    expect(onC.events).toEqual([
      { type: 'progress', jobId: c.id, progress: 7 },
      { type: 'failed', jobId: c.id, failedReason: 'cannot ever work' },
    ]);
    // A failed attempt that is retried is not the end of the job.
    expect(onE.events).toEqual([{ type: 'completed', jobId: e.id, result: 'E' }]);
    expect(await finished(queue, b.id)).toMatchObject({ state: 'completed', progress: 2 });
  });

  it('stops telling a watcher once it unsubscribes; other watchers of the job still hear', async () => {
    const { queue } = await open();
    const job = await queue.add('d', { gate: 'd', progress: [1, 2, 3], result: 'D' });
    const gone = listen();
    const stays = listen();
    const unsubscribe = await queue.watch(job.id, gone.listener);
    await queue.watch(job.id, stays.listener);
    unsubscribe();
    unsubscribe(); // harmless twice
    recorder.open('d');
    await within(stays.done, 10_000, 'completed event');
    expect(stays.events.map((event) => event.type)).toEqual(['progress', 'progress', 'progress', 'completed']);
    expect(gone.events).toEqual([]);
  });

  it('tells a watcher of the end of a job that retention removes at once', async () => {
    const { queue } = await open();
    const ok = await queue.add('ok', { gate: 'end', result: 'fine' }, { removeOnComplete: true });
    const ko = await queue.add('ko', { gate: 'end', unrecoverable: true }, { removeOnFail: true });
    const onOk = listen();
    const onKo = listen();
    await queue.watch(ok.id, onOk.listener);
    await queue.watch(ko.id, onKo.listener);
    recorder.open('end');
    await within(Promise.all([onOk.done, onKo.done]), 10_000, 'terminal events');
    expect(onOk.events).toEqual([{ type: 'completed', jobId: ok.id, result: 'fine' }]);
    expect(onKo.events).toEqual([{ type: 'failed', jobId: ko.id, failedReason: 'cannot ever work' }]);
    expect(await queue.get(ok.id)).toBeNull();
    expect(await queue.get(ko.id)).toBeNull();
  });

  it("shows the job's owner in its view, and none when it has no owner", async () => {
    const { queue } = await open();
    const owned = await queue.add('mine', { result: 'x' }, { owner: 'user-42' });
    expect(owned.owner).toBe('user-42');
    expect(await finished(queue, owned.id)).toMatchObject({ state: 'completed', owner: 'user-42' });
    const ownerless = await queue.add('nobody', {});
    expect(ownerless.owner).toBeUndefined();
    expect((await queue.get(ownerless.id))?.owner).toBeUndefined();
  });

  it('lets a running job finish on close, within shutdownTimeoutMs', async () => {
    const rig = await open({ queue: { shutdownTimeoutMs: 3000 } });
    const added = await rig.queue.add('finishing', { sleepMs: 800, result: 'made it' });
    await recorder.started(added.id);
    const tookMs = await rig.close();
    const [run] = recorder.runsOf(added.id);
    expect(run).toMatchObject({ outcome: 'returned' });
    expect(run!.endedAt).toBeLessThanOrEqual(Date.now());
    expect(tookMs).toBeGreaterThanOrEqual(800 - 300);
    expect(tookMs).toBeLessThan(3000);
    if (kind === 'bullmq') {
      // Stored as completed: a producer-only app on the same Redis reads it.
      const reader = await open({ queue: { workersEnabled: false } });
      expect(await reader.queue.get(added.id)).toMatchObject({ state: 'completed', result: 'made it' });
    }
  });

  it('returns from close after about shutdownTimeoutMs when a job runs longer', async () => {
    const rig = await open({ queue: { shutdownTimeoutMs: 1000 } });
    const added = await rig.queue.add('endless', { sleepMs: 4000 });
    await recorder.started(added.id);
    const tookMs = await rig.close();
    expect(tookMs).toBeGreaterThanOrEqual(1000 - 50);
    expect(tookMs).toBeLessThan(1000 + 2500);
    // Nothing of the job may outlive the test.
    const [run] = await recorder.ended(added.id).then(() => recorder.runsOf(added.id));
    // At the cut-off both drivers abort the job's signal, so a processor that takes it stops (with
    // BullMQ the job stays active until its lock lapses, then it is recovered as stalled).
    expect(run!.endedAt! - run!.startedAt).toBeLessThan(4000 - 1000);
  });
});

/** Four jobs, two with priorities and two without, added in mixed order; their labels by job id. */
async function addByPriority(queue: JobQueue): Promise<Record<string, string>> {
  const labels: Record<string, string> = {};
  for (const [label, priority] of [
    ['p2', 2],
    ['none-1', undefined],
    ['p1', 1],
    ['none-2', undefined],
  ] as const) {
    labels[(await queue.add(label, {}, priority === undefined ? {} : { priority })).id] = label;
  }
  return labels;
}

/** BullMQ's order, which the in-process driver keeps: jobs without a priority first, then 1 before 2. */
async function expectPriorityOrder(recorder: Recorder, labels: Record<string, string>): Promise<void> {
  await recorder.until((runs) => runs.length === 4 && runs.every((run) => run.endedAt !== undefined));
  expect(recorder.runs.map((run) => labels[run.id])).toEqual(['none-1', 'none-2', 'p1', 'p2']);
}

describe('bullmq driver: waiting jobs and a worker that starts later', () => {
  it('takes jobs added by a producer-only app in priority order once a worker app starts', async () => {
    const keyPrefix = uniquePrefix('queue');
    sharedPrefixes.push(keyPrefix);
    const redis = { url: TEST_REDIS_URL, keyPrefix, commandTimeoutMs: 5000 };
    const recorder = newRecorder();
    const producer = await openApp(recorder, { redis, queue: { workersEnabled: false } });
    expect(producer.driver.workersEnabled).toBe(false);
    const labels = await addByPriority(producer.queue);
    await sleep(300);
    expect(recorder.runs).toEqual([]);
    await openApp(recorder, { redis, processor: SerialProcessor });
    await expectPriorityOrder(recorder, labels);
  });
});

describe('memory driver: bounds and start-up', () => {
  it('refuses jobs with QueueFullError (503 queue-full) once memoryMaxJobs unfinished jobs are held, and takes them again once they finish', async () => {
    const recorder = newRecorder();
    const { queue } = await openApp(recorder, { redis: {}, queue: { memoryMaxJobs: 3 } });
    const held = [
      await queue.add('held', { gate: 'held' }),
      await queue.add('held', { gate: 'held' }),
      await queue.add('held', {}, { delay: 60_000 }),
    ];
    const refused = await settle(queue.add('one-more', {}));
    expect(refused.error).toBeInstanceOf(QueueFullError);
    const error = refused.error as QueueFullError;
    expect(error.getStatus()).toBe(503);
    expect(error.problem.type).toBe('queue-full');
    expect(error.problem.headers).toEqual({ 'Retry-After': expect.stringMatching(/^\d+$/) });
    // A job id or deduplication id that is already held adds nothing, so it is not refused.
    expect((await queue.add('held', {}, { jobId: held[0]!.id })).id).toBe(held[0]!.id);

    recorder.open('held');
    await Promise.all(held.slice(0, 2).map((job) => finished(queue, job.id)));
    const accepted = await queue.add('one-more', { result: 'in' });
    expect(await finished(queue, accepted.id)).toMatchObject({ state: 'completed', result: 'in' });
  });

  it('holds jobs added before the app starts and runs them by priority once its workers start', async () => {
    const recorder = newRecorder();
    const rig = await openApp(recorder, { redis: {}, processor: SerialProcessor, start: false });
    const labels = await addByPriority(rig.queue);
    expect(recorder.runs).toEqual([]);
    await rig.start();
    await expectPriorityOrder(recorder, labels);
  });
});

describe('bullmq driver: Redis down or too slow (private redis-server)', () => {
  const COMMAND_TIMEOUT_MS = 500;

  async function openOnPrivateRedis() {
    const server = await privateRedis();
    servers.push(server);
    const recorder = newRecorder();
    const rig = await openApp(recorder, {
      redis: { url: server.url, keyPrefix: uniquePrefix('queue'), commandTimeoutMs: 500 },
      queue: { commandTimeoutMs: COMMAND_TIMEOUT_MS, shutdownTimeoutMs: 1000 },
    });
    // Up and working first.
    const first = await rig.queue.add('warm-up', { result: 'ok' });
    expect(await finished(rig.queue, first.id)).toMatchObject({ state: 'completed' });
    return { server, recorder, ...rig };
  }

  const expectUnavailable = (error: unknown) => {
    expect(error).toBeInstanceOf(QueueUnavailableError);
    const problem = error as QueueUnavailableError;
    expect(problem.getStatus()).toBe(503);
    expect(problem.problem.type).toBe('queue-unavailable');
    expect(problem.queue).toBe(QUEUE);
  };

  it('rejects add and get with QueueUnavailableError within 1.5 s when Redis is down, and works again once it is back', async () => {
    const { server, recorder, queue } = await openOnPrivateRedis();
    await server.kill();
    for (let i = 0; i < 3; i++) {
      const add = await settle(queue.add('while-down', { result: i }));
      expectUnavailable(add.error);
      expect(add.ms).toBeLessThan(1500);
      const get = await settle(queue.get(randomUUID()));
      expectUnavailable(get.error);
      expect(get.ms).toBeLessThan(1500);
    }

    await server.start();
    // The producer reconnects by itself (backoff capped at 2 s); then the workers take the job.
    let added: JobView | undefined;
    const deadline = Date.now() + 10_000;
    while (!added && Date.now() < deadline) {
      added = (await settle(queue.add('after-restart', { result: 'back' }))).value;
      if (!added) await sleep(100);
    }
    expect(added).toBeDefined();
    await recorder.started(added!.id);
    expect(await finished(queue, added!.id)).toMatchObject({ state: 'completed', result: 'back' });
  });

  it('rejects add and get within the command timeout while Redis does not answer, and works again once it does', async () => {
    const { server, recorder, queue } = await openOnPrivateRedis();
    server.pause();
    const jobId = `sent-while-paused-${randomBytes(4).toString('hex')}`;
    const add = await settle(queue.add('while-paused', { result: 'paused' }, { jobId }));
    expectUnavailable(add.error);
    expect(add.ms).toBeLessThan(COMMAND_TIMEOUT_MS + 700);
    const get = await settle(queue.get(randomUUID()));
    expectUnavailable(get.error);
    expect(get.ms).toBeLessThan(COMMAND_TIMEOUT_MS + 700);

    server.resume();
    const added = await eventually(
      () => settle(queue.add('after-resume', { result: 'resumed' })),
      (outcome) => outcome.value !== undefined,
      10_000,
      100,
    );
    expect(added.value).toBeDefined();
    expect(await finished(queue, added.value!.id)).toMatchObject({ state: 'completed', result: 'resumed' });
    expect(recorder.runsOf(added.value!.id)).toHaveLength(1);
    // The refused add had been sent: Redis ran it once it answered again. A 503 on a timeout does
    // not mean nothing was enqueued; retrying with the same job id adds nothing more.
    expect(await finished(queue, jobId)).toMatchObject({ state: 'completed', result: 'paused' });
    expect(await queue.add('while-paused', { result: 'retried' }, { jobId })).toMatchObject({ result: 'paused' });
    await sleep(300);
    expect(recorder.runsOf(jobId)).toHaveLength(1);
  });

  it('closes with Redis gone and a job running: within the grace period, leaving no worker timer behind', async () => {
    const { server, recorder, queue, close, driver } = await openOnPrivateRedis();
    const held = await queue.add('held', { gate: 'held-while-down' });
    await recorder.started(held.id);
    await server.kill();
    const tookMs = await close();
    expect(tookMs).toBeLessThan(1000 + 2000 + 1000);
    // BullMQ renews locks on a timer that reschedules itself until the worker closes; an
    // abandoned close must stop it, or it keeps the process (and this test runner) alive.
    const { workers } = driver as unknown as { workers: { lockManager: { closed: boolean } }[] };
    expect(workers.length).toBeGreaterThan(0);
    for (const worker of workers) expect(worker.lockManager.closed).toBe(true);
    recorder.open('held-while-down');
  });

  it('rejects watch with QueueUnavailableError when Redis is down', async () => {
    const { server, queue } = await openOnPrivateRedis();
    await server.kill();
    const watching = queue.watch(randomUUID(), () => undefined);
    const watched = await settle(within(watching, 5000, 'watch'));
    expectUnavailable(watched.error);
    expect(watched.ms).toBeLessThan(1500);
  });
});
