import { jest } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { InvalidOptionError, QueueAdmin, QueueHandler, RedisQueueModule } from 'nestjs-redis-queue';
import { redisUrl, uniquePrefix, waitFor } from '../support/helpers.js';
import { QueueApp, startQueueApp } from '../support/queue-app.js';
import { flowSuite } from './support/flow-suite.js';
import { FlowWorkers, Start } from './support/flow-workers.js';

// Worker processes on a loaded machine: a generous guard against hanging (tests wait for conditions).
jest.setTimeout(180_000);

/** Where a job of this priority runs: 1-5, then the jobs without one, then 6-10. */
const rank = (priority: number | undefined) => priority ?? 5.5;

describe('priorities (3 worker processes)', () => {
  let q: QueueApp;
  let admin: QueueAdmin;
  let redis: Redis;
  let workers: FlowWorkers | undefined;

  flowSuite('flow-prio', (suite) => ({ q, admin, redis } = suite));

  it('hands ready jobs out strictly by priority, FIFO within a level, the default between 5 and 6', async () => {
    const queue = 'order';
    workers = await new FlowWorkers({ queue, prefix: q.prefix, processes: 3, concurrency: 4 }).start();
    // Everything is ready before the first claim: strict order among ready jobs is the contract.
    await admin.pause(queue);
    const enqueued: Array<{ id: string; priority?: number }> = [];
    const levels = [undefined, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    // Interleaved levels, single enqueues and batches, so that FIFO within a level is tested across both.
    for (let round = 0; round < 6; round++) {
      const batch = [...levels].sort(() => Math.random() - 0.5).map((priority) => ({ payload: { round }, options: priority ? { priority } : undefined }));
      const ids = await q.producer.enqueueMany(queue, batch);
      ids.forEach((id, i) => enqueued.push({ id, priority: batch[i].options?.priority }));
      for (const priority of [7, undefined, 3]) {
        enqueued.push({ id: await q.producer.enqueue(queue, { round }, priority ? { priority } : undefined), priority });
      }
    }
    await admin.resume(queue);
    await workers.waitForStarts(enqueued.length);

    // The order of claims is Redis's (the claim counter, then the position in the claim), whichever of the
    // three processes made each claim.
    const expected = enqueued
      .map((job, arrival) => ({ ...job, arrival }))
      .sort((a, b) => rank(a.priority) - rank(b.priority) || a.arrival - b.arrival)
      .map((job) => job.id);
    const claimed = workers.inClaimOrder();
    expect(claimed.map((s) => s.id)).toEqual(expected);
    expect(claimed.map((s) => s.priority)).toEqual(
      [...enqueued].sort((a, b) => rank(a.priority) - rank(b.priority)).map((job) => job.priority),
    );
  });

  it('a job of a higher priority enqueued during a backlog is in the first claim made after its enqueue', async () => {
    const queue = 'jump';
    workers = await new FlowWorkers({ queue, prefix: q.prefix, processes: 3, concurrency: 2 }).start();
    const backlog = await q.producer.enqueueMany(
      queue,
      Array.from({ length: 1000 }, (_, n) => ({ payload: { n, ms: 5 }, options: { priority: 5 } })),
    );
    await workers.waitForStarts(20, 30_000, 'the backlog to be running');
    const urgent = await q.producer.enqueue(queue, { urgent: true }, { priority: 1 });
    // Claims numbered up to `after` may have been made before the enqueue or during it; the first one
    // numbered above it was certainly made after it, and must have taken the urgent job first.
    const after = Number(await redis.get(`${q.prefix}:{${queue}}:claim-counter`));
    const start = await waitFor(() => workers!.starts().find((s) => s.id === urgent), 30_000, 'the urgent job');
    expect(start.claim).toBeLessThanOrEqual(after + 1);
    expect(start.position).toBe(1);
    expect(start.priority).toBe(1);
    await workers.waitForEnds([...backlog, urgent], 120_000);
  });

  it('a retried job keeps its level: its next attempt runs before the waiting jobs of lower priority', async () => {
    const queue = 'retry';
    // 3 x 4 slots, held by jobs that wait for "go": the retry is due while every slot is taken.
    workers = await new FlowWorkers({ queue, prefix: q.prefix, processes: 3, concurrency: 4 }).start();
    await admin.pause(queue);
    const go = `${workers.gauge}:go-retry`;
    const failing = await q.producer.enqueue(queue, { fail: 1 }, { priority: 2, track: true, backoff: { type: 'fixed', delay: 50 } });
    const held = await q.producer.enqueueMany(
      queue,
      Array.from({ length: 30 }, (_, n) => ({ payload: { n, hold: go }, options: { priority: 3 } })),
    );
    await admin.resume(queue);
    // The first attempt fails; its retry waits in the delayed set, then joins level 2 while 12 held jobs run.
    await workers.waitForStarts(13);
    await waitFor(async () => (await q.inspector.job(queue, failing))?.state === 'ready', 30_000, 'the retry to be due and ready');
    await redis.set(go, '1');
    await waitFor(() => workers!.starts().some((s) => s.id === failing && s.attempt === 2), 30_000, 'the second attempt');
    await workers.waitForEnds(held);

    const claimed = workers.inClaimOrder();
    const first = claimed.findIndex((s) => s.id === failing && s.attempt === 1);
    const second = claimed.findIndex((s) => s.id === failing && s.attempt === 2);
    expect(first).toBe(0);
    // Attempt 1, then the 12 level-3 jobs that filled the slots, then the retry: before the other 18.
    expect(second).toBe(13);
    expect(claimed[second].priority).toBe(2);
    expect(claimed.slice(second + 1).every((s) => s.priority === 3)).toBe(true);
  });

  it('a job recovered after its worker was SIGKILLed keeps its priority, and runs before every ready job', async () => {
    const queue = 'recover';
    workers = await new FlowWorkers({ queue, prefix: q.prefix, processes: 1, concurrency: 1, leaseMs: 1000 }).start();
    const go = `${workers.gauge}:go-recover`;
    const lost = await q.producer.enqueue(queue, { hold: go }, { priority: 7 });
    await workers.waitForStarts(1);
    for (let i = 0; i < 2; i++) await (await workers.spawn()).waitForLine(/^ready$/);
    await admin.pause(queue);
    const ready = await q.producer.enqueueMany(queue, [
      ...Array.from({ length: 5 }, (_, n) => ({ payload: { n }, options: { priority: 1 } })),
      ...Array.from({ length: 5 }, (_, n) => ({ payload: { n } })),
      ...Array.from({ length: 5 }, (_, n) => ({ payload: { n }, options: { priority: 8 } })),
    ]);
    await workers.kill(0, redis);
    await redis.set(go, '1'); // for the redelivery (after the kill: the first delivery must not finish)
    // Paused, nothing is claimed, but the workers' claim calls still recover the expired claim.
    await waitFor(async () => (await redis.llen(`${q.prefix}:{${queue}}:recovered`)) === 1, 30_000, 'the claim to be recovered');
    await admin.resume(queue);
    await workers.waitForEnds([lost, ...ready]);

    const claimed = workers.inClaimOrder().filter((s) => s.worker !== 0);
    // Recovered jobs go first (they had their turn already), each in a claim of its own; it keeps its
    // priority (a retry from here would go back to level 7).
    expect(claimed[0]).toMatchObject({ id: lost, priority: 7, position: 1 });
    expect(claimed.slice(1).map((s: Start) => rank(s.priority))).toEqual([1, 1, 1, 1, 1, 5.5, 5.5, 5.5, 5.5, 5.5, 8, 8, 8, 8, 8]);
  });
});

describe('priority and group options are validated, naming the field', () => {
  let q: QueueApp;
  beforeAll(async () => {
    q = await startQueueApp([], { prefix: uniquePrefix('flow-opts'), consumers: false });
  });
  afterAll(() => q.close());

  it.each([
    [{ priority: 0 }, 'priority', 'must be an integer from 1 (first) to 10 (last) (got 0)'],
    [{ priority: 11 }, 'priority', 'must be an integer from 1 (first) to 10 (last) (got 11)'],
    [{ priority: 2.5 }, 'priority', 'must be an integer from 1 (first) to 10 (last) (got 2.5)'],
    [{ priority: '3' }, 'priority', 'must be an integer from 1 (first) to 10 (last)'],
    [{ priority: 2, group: 'acme' }, 'group', 'cannot be combined with "priority"'],
    [{ group: '' }, 'group', 'must not be empty'],
    [{ group: 'a{b}' }, 'group', 'must not contain "{", "}" or control characters (got "a{b}")'],
    [{ group: 'x'.repeat(101) }, 'group', 'must be at most 100 characters (got 101)'],
    [{ group: 42 }, 'group', 'must be a string (got 42)'],
    [{ priorty: 1 }, 'priorty', 'did you mean "priority"?'],
  ])('enqueue %j rejects with InvalidOptionError on "%s" and stores nothing', async (options, field, problem) => {
    const error = await q.producer.enqueue('opts', { n: 1 }, options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).field).toBe(field);
    expect((error as InvalidOptionError).message).toContain(`Invalid option "${field}"`);
    expect((error as InvalidOptionError).problem).toContain(problem);
    const many = await q.producer.enqueueMany('opts', [{ payload: { n: 1 } }, { payload: { n: 2 }, options: options as never }]).catch((e: unknown) => e);
    expect(many).toBeInstanceOf(InvalidOptionError);
    expect(await q.inspector.counts('opts')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
  });
});

describe('flow-control handler options are validated at bootstrap, naming the handler and the field', () => {
  const boot = async (options: object, overrides?: object) => {
    @Injectable()
    class Limited {
      @QueueHandler('limited', options as never)
      run() {}
    }
    const compiled = Test.createTestingModule({
      imports: [
        RedisQueueModule.forRoot({
          connection: redisUrl(),
          prefix: uniquePrefix('flow-hopts'),
          checkRedisConfig: false,
          ...(overrides ? { queues: { limited: overrides } } : {}),
        } as never),
      ],
      providers: [Limited],
    }).compile();
    // Module options fail while the module compiles, handler options while it initializes.
    const app = await compiled.then((moduleRef) => moduleRef.init()).catch((e: unknown) => e);
    if (!(app instanceof Error)) await (app as { close(): Promise<void> }).close();
    return app;
  };

  it.each([
    [{ rateLimit: { max: 0, duration: 1000 } }, 'rateLimit.max', 'must be an integer from 1 to 1000000 (got 0)'],
    [{ rateLimit: { max: 5, duration: 0 } }, 'rateLimit.duration', 'must be an integer number of ms from 1 to 86400000 (got 0)'],
    [{ rateLimit: { max: 5, duration: 1000, burst: 2 } }, 'rateLimit.burst', 'is not a rate limit option (known: max, duration)'],
    [{ rateLimit: 100 }, 'rateLimit', 'must be { max, duration } (got 100)'],
    [{ globalConcurrency: 0 }, 'globalConcurrency', 'must be an integer from 1 to 1000000 (got 0)'],
    [{ globalConcurrency: 1.5 }, 'globalConcurrency', 'must be an integer from 1 to 1000000 (got 1.5)'],
    [{ groupConcurrency: -1 }, 'groupConcurrency', 'must be an integer from 1 to 1000000 (got -1)'],
    [{ groupRateLimit: { max: 1 } }, 'groupRateLimit.duration', 'must be an integer number of ms from 1 to 86400000 (got undefined)'],
    [{ globalConcurency: 2 }, 'globalConcurency', 'did you mean "globalConcurrency"?'],
  ])('@QueueHandler %j fails the bootstrap on "%s"', async (options, field, problem) => {
    const error = await boot(options);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain('Limited.run');
    expect(message).toContain(`"${field}"`);
    expect(message).toContain(problem);
  });

  it('a deployment override (module queues) is checked the same way, naming its path', async () => {
    const error = await boot({}, { groupRateLimit: { max: 2, duration: -5 } });
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).field).toBe('queues.limited.groupRateLimit.duration');
  });

  it('QueueAdmin.configure checks the rules it is given', async () => {
    const app = await startQueueApp([], { prefix: uniquePrefix('flow-admin'), consumers: false });
    try {
      const admin = app.app.get(QueueAdmin);
      const error = await admin.configure('limited', { globalConcurrency: 0 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).field).toBe('globalConcurrency');
      const rate = await admin.configure('limited', { rateLimit: { max: 1, duration: 1.5 } }).catch((e: unknown) => e);
      expect((rate as InvalidOptionError).field).toBe('rateLimit.duration');
    } finally {
      await app.close();
    }
  });
});
