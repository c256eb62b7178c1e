import { Redis } from 'ioredis';
import { JobInfo, QueueAdmin, QueueInspector, RedisQueueError } from 'nestjs-redis-queue';
import { queueKeys } from '../../libs/redis-queue/src/engine/index.js';
import { deferred, rawClient, redisUrl, uniquePrefix, waitFor } from '../support/helpers.js';
import { QueueApp, startQueueApp } from '../support/queue-app.js';
import { handlerFor, type TestHandler } from '../support/steering.js';

// QueueInspector.job() in every state, and the jobs() listings, against real Redis.

const prefix = uniquePrefix('inspect');
let api: QueueApp;
let admin: QueueAdmin;
const apps: QueueApp[] = [];
let raw: Redis;

/** A worker app (same prefix) running `run` for `queue`. */
async function worker(queue: string, run: TestHandler, concurrency = 1): Promise<QueueApp> {
  const app = await startQueueApp([handlerFor(queue, run, { concurrency })], { prefix });
  apps.push(app);
  return app;
}

/** Waits until job() reports `state`, and returns what it said. */
async function stateOf(queue: string, id: string, state: JobInfo['state'], timeoutMs = 15_000): Promise<JobInfo> {
  return waitFor(
    async () => {
      const info = await api.inspector.job(queue, id);
      return info?.state === state ? info : undefined;
    },
    timeoutMs,
    `job ${id} of "${queue}" to be ${state}`,
  );
}

beforeAll(async () => {
  api = await startQueueApp([], { prefix, consumers: false });
  admin = api.app.get(QueueAdmin);
  raw = rawClient();
});

afterAll(async () => {
  await Promise.all(apps.map((app) => app.close()));
  await api.close();
  raw.disconnect();
});

describe('QueueInspector.job()', () => {
  it('a tracked ready job: payload, trace id, attempts, enqueue time, no run time', async () => {
    const before = Date.now();
    const id = await api.producer.enqueue('ready-q', { order: 42, items: ['a', 'b'] }, { track: true, traceId: 'req-7f3', attempts: 4 });
    const after = Date.now();
    const info = await api.inspector.job('ready-q', id);
    expect(info).toMatchObject({
      id,
      queue: 'ready-q',
      state: 'ready',
      attemptsMade: 0,
      maxAttempts: 4,
      payload: { order: 42, items: ['a', 'b'] },
      traceId: 'req-7f3',
      tracked: true,
    });
    // The Redis clock of the same machine: a sanity bound, not a timing assertion.
    expect(info!.enqueuedAt.getTime()).toBeGreaterThanOrEqual(before - 2000);
    expect(info!.enqueuedAt.getTime()).toBeLessThanOrEqual(after + 2000);
    expect(info!.runAt).toBeUndefined();
    expect(info!.finishedAt).toBeUndefined();
    expect(info!.result).toBeUndefined();
    expect(info!.error).toBeUndefined();
  });

  it('the trace id defaults to the job id; a caller-chosen id is found by that id', async () => {
    const id = await api.producer.enqueue('ready-q', { n: 1 }, { track: true, jobId: 'invoice-2024-001' });
    expect(id).toBe('invoice-2024-001');
    expect(await api.inspector.job('ready-q', 'invoice-2024-001')).toMatchObject({ id, state: 'ready', traceId: id });
  });

  it('a tracked delayed job: its due time', async () => {
    const id = await api.producer.enqueue('delayed-q', { remind: true }, { track: true, delay: 60_000 });
    const info = await api.inspector.job('delayed-q', id);
    expect(info).toMatchObject({ id, state: 'delayed', attemptsMade: 0, payload: { remind: true }, traceId: id, tracked: true });
    expect(info!.runAt!.getTime() - info!.enqueuedAt.getTime()).toBe(60_000);
  });

  it('an active job: its progress while it runs; completed: result, attempts and finish time', async () => {
    const release = deferred();
    const reported = deferred();
    await worker('active-q', async (payload: { n: number }, job) => {
      await job.progress({ step: 'rendering', percent: 40 });
      reported.resolve();
      await release.promise;
      return { url: `https://files.example/report-${payload.n}.pdf` };
    });
    const id = await api.producer.enqueue('active-q', { n: 9 }, { track: { retention: 60_000 }, traceId: 'trace-active' });
    await reported.promise;
    const active = await waitFor(async () => {
      const info = await api.inspector.job('active-q', id);
      return info?.progress !== undefined ? info : undefined;
    }, 10_000, 'the progress to be stored');
    expect(active).toMatchObject({
      state: 'active',
      attemptsMade: 0,
      maxAttempts: 3,
      payload: { n: 9 },
      traceId: 'trace-active',
      progress: { step: 'rendering', percent: 40 },
    });
    expect(active.cancelling).toBeUndefined();

    release.resolve();
    const done = await stateOf('active-q', id, 'completed');
    expect(done).toMatchObject({
      id,
      attemptsMade: 1,
      payload: { n: 9 },
      traceId: 'trace-active',
      result: { url: 'https://files.example/report-9.pdf' },
      tracked: true,
    });
    expect(done.finishedAt).toBeInstanceOf(Date);
    expect(done.finishedAt!.getTime()).toBeGreaterThanOrEqual(done.enqueuedAt.getTime());
    expect(done.error).toBeUndefined();
  });

  it('a completed job keeps the last progress value its handler reported', async () => {
    await worker('progress-kept-q', async (_payload, job) => {
      await job.progress(100);
      return 'done';
    });
    const id = await api.producer.enqueue('progress-kept-q', {}, { track: true });
    const done = await stateOf('progress-kept-q', id, 'completed');
    expect(done.result).toBe('done');
    expect(done.progress).toBe(100);
  });

  // Jobs due in the same millisecond get scores with a FIFO fraction; the tracked entry must still lead
  // to each of them (found by this suite before the entry kept the exact member).
  it('tracked delayed jobs due in the same millisecond are each found, cancelled and promoted by id', async () => {
    const ids = await api.producer.enqueueMany(
      'same-ms-q',
      [1, 2, 3].map((n) => ({ payload: { n }, options: { track: true, delay: 3_600_000 } })),
    );
    for (const [i, id] of ids.entries()) {
      expect({ id, info: await api.inspector.job('same-ms-q', id) }).toMatchObject({ id, info: { state: 'delayed', payload: { n: i + 1 } } });
    }
    expect(await api.producer.cancel('same-ms-q', ids[1])).toEqual({ outcome: 'removed', state: 'delayed' });
    expect(await admin.promote('same-ms-q', ids[2])).toBe(true);
  });

  it('a failed attempt waiting for its retry: delayed, with the last error and the attempts spent', async () => {
    let calls = 0;
    await worker('retry-q', async () => {
      calls++;
      if (calls === 1) throw new Error('smtp 451: try again later');
      return 'sent';
    });
    const id = await api.producer.enqueue('retry-q', { to: 'a@example.com' }, { track: true, attempts: 5, backoff: { type: 'fixed', delay: 60_000, jitter: 0 } });
    const waiting = await stateOf('retry-q', id, 'delayed');
    expect(waiting).toMatchObject({ attemptsMade: 1, maxAttempts: 5, payload: { to: 'a@example.com' } });
    expect(waiting.error).toMatchObject({ name: 'Error', message: 'smtp 451: try again later' });
    expect(waiting.runAt!.getTime()).toBeGreaterThanOrEqual(waiting.enqueuedAt.getTime() + 60_000);

    // Run it now: the second attempt completes.
    expect(await admin.promote('retry-q', id)).toBe(true);
    const done = await stateOf('retry-q', id, 'completed');
    expect(done).toMatchObject({ attemptsMade: 2, result: 'sent' });
  });

  it('a dead job is found whether it was tracked or not, with its payload, attempts and error', async () => {
    await worker('dead-q', async (payload: { why: string }) => {
      throw new Error(`card declined: ${payload.why}`);
    });
    const untracked = await api.producer.enqueue('dead-q', { why: 'expired' }, { attempts: 1, traceId: 'trace-dead' });
    const tracked = await api.producer.enqueue('dead-q', { why: 'stolen' }, { attempts: 2, backoff: { type: 'fixed', delay: 1 }, track: true });

    const a = await stateOf('dead-q', untracked, 'dead');
    expect(a).toMatchObject({ id: untracked, queue: 'dead-q', attemptsMade: 1, maxAttempts: 1, payload: { why: 'expired' }, traceId: 'trace-dead' });
    expect(a.error).toMatchObject({ name: 'Error', message: 'card declined: expired' });
    expect(a.error!.stack).toContain('card declined');
    expect(a.finishedAt).toBeInstanceOf(Date);

    const b = await stateOf('dead-q', tracked, 'dead');
    expect(b).toMatchObject({ attemptsMade: 2, payload: { why: 'stolen' }, traceId: tracked });
    expect(b.error!.message).toBe('card declined: stolen');
  });

  // BUG (engine, _queue.lua `bury`): burying a job deletes its tracking entry, so job() computes
  // `tracked: entry !== null` from a deleted entry and a tracked job that died reports `tracked: false`
  // (and its last progress is gone with the entry).
  it('a tracked job that died still says it is tracked', async () => {
    await worker('dead-tracked-q', async () => {
      throw new Error('nope');
    });
    const id = await api.producer.enqueue('dead-tracked-q', {}, { attempts: 1, track: true });
    const info = await stateOf('dead-tracked-q', id, 'dead');
    expect(info.tracked).toBe(true);
  });

  it('a cancelled job: cancelled, with its payload and when', async () => {
    const id = await api.producer.enqueue('cancel-q', { order: 'A-1' }, { track: true });
    expect(await api.producer.cancel('cancel-q', id)).toEqual({ outcome: 'removed', state: 'ready' });
    const info = await api.inspector.job('cancel-q', id);
    expect(info).toMatchObject({ id, state: 'cancelled', payload: { order: 'A-1' }, tracked: true });
    expect(info!.finishedAt).toBeInstanceOf(Date);
  });

  it('undefined for an unknown id, and for an untracked job that is not dead', async () => {
    expect(await api.inspector.job('unknown-q', '123456')).toBeUndefined();
    expect(await api.inspector.job('unknown-q', 'no-such-job')).toBeUndefined();
    const id = await api.producer.enqueue('unknown-q', { plain: true });
    expect(await api.inspector.job('unknown-q', id)).toBeUndefined();
    expect((await api.inspector.counts('unknown-q')).ready).toBe(1);
  });

  it('an invalid queue name is refused with an error naming the field', async () => {
    await expect(api.inspector.job('bad queue{x}', '1')).rejects.toThrow(RedisQueueError);
    await expect(api.inspector.job('bad queue{x}', '1')).rejects.toThrow(/queue/);
  });

  // BUG (engine, inspector.ts `job`): job() reads the tracking entry, then in a second round trip the
  // record it points at (the claim of an active job, the delayed set for a delayed one). When the job
  // moves in between (its claim settles, it is promoted), job() returns undefined, "moved between the
  // two reads", for a job that exists. waitForResult() checks through job() when it starts, so a wait
  // begun just as the job finishes rejects with "not tracked" (InvalidOptionError) although the job
  // completed. Reproduced deterministically by holding the inspector's second read until the job completed.
  it('job() never returns undefined for a tracked job that moves while it is read', async () => {
    const release = deferred();
    await worker('moving-q', async () => {
      await release.promise;
      return 'moved';
    });
    const id = await api.producer.enqueue('moving-q', {}, { track: true });
    await stateOf('moving-q', id, 'active');

    const slow = rawClient();
    const claimsKey = queueKeys(prefix, 'moving-q').claims;
    const hget = slow.hget.bind(slow) as (key: string, field: string) => Promise<string | null>;
    (slow as unknown as { hget: (key: string, field: string) => Promise<string | null> }).hget = async (key, field) => {
      if (key === claimsKey) {
        // The job completes between job()'s two reads.
        release.resolve();
        await waitFor(async () => JSON.parse((await raw.hget(queueKeys(prefix, 'moving-q').track, id)) ?? '{}').s === 'completed', 10_000, 'completion');
      }
      return hget(key, field);
    };
    try {
      const inspector = new QueueInspector(slow, prefix);
      const info = await inspector.job('moving-q', id);
      expect(info).toBeDefined();
      expect(['active', 'completed']).toContain(info!.state);
    } finally {
      release.resolve();
      slow.disconnect();
    }
  });
});

describe('QueueInspector.jobs()', () => {
  it('ready jobs in the order they will run, paged, with the total', async () => {
    await admin.pause('list-ready');
    const plain = await api.producer.enqueueMany(
      'list-ready',
      Array.from({ length: 10 }, (_, i) => ({ payload: { i } })),
    );
    const urgent = await api.producer.enqueueMany(
      'list-ready',
      Array.from({ length: 3 }, (_, i) => ({ payload: { urgent: i }, options: { priority: 2 } })),
    );
    const late = await api.producer.enqueueMany(
      'list-ready',
      Array.from({ length: 2 }, (_, i) => ({ payload: { late: i }, options: { priority: 9 } })),
    );
    const grouped = await api.producer.enqueueMany(
      'list-ready',
      ['tenant-b', 'tenant-a'].map((group) => ({ payload: { group }, options: { group } })),
    );
    // Claim order: levels 1-5, the default list, levels 6-10; then the groups' jobs (by group).
    const expected = [...urgent, ...plain, ...late, grouped[1], grouped[0]];

    const all = await api.inspector.jobs('list-ready', 'ready', { limit: 100 });
    expect(all.total).toBe(17);
    expect(all.jobs[15]).toMatchObject({ id: grouped[1], group: 'tenant-a', payload: { group: 'tenant-a' } });
    expect(all.jobs.map((j) => j.id)).toEqual(expected);
    expect(all.jobs.every((j) => j.state === 'ready')).toBe(true);
    expect(all.jobs[0]).toMatchObject({ payload: { urgent: 0 }, priority: 2, attemptsMade: 0 });
    expect(all.jobs[3]).toMatchObject({ payload: { i: 0 }, traceId: plain[0] });
    expect(all.jobs[3].priority).toBeUndefined();

    // Pages of 4 put together give the same list, across the boundaries between levels.
    const paged: string[] = [];
    for (let offset = 0; offset < 17; offset += 4) {
      const page = await api.inspector.jobs('list-ready', 'ready', { offset, limit: 4 });
      expect(page.total).toBe(17);
      paged.push(...page.jobs.map((j) => j.id));
    }
    expect(paged).toEqual(expected);
    expect((await api.inspector.jobs('list-ready', 'ready', { offset: 17 })).jobs).toEqual([]);
    expect((await api.inspector.jobs('list-ready', 'ready')).jobs).toHaveLength(17); // default limit 50
  });

  it('delayed jobs by due time, each with its member, which promote() takes', async () => {
    const ids: string[] = [];
    for (const delay of [50_000, 10_000, 40_000, 20_000, 30_000]) {
      ids.push(await api.producer.enqueue('list-delayed', { delay }, { delay }));
    }
    const page = await api.inspector.jobs('list-delayed', 'delayed');
    expect(page.total).toBe(5);
    expect(page.jobs.map((j) => (j.payload as { delay: number }).delay)).toEqual([10_000, 20_000, 30_000, 40_000, 50_000]);
    const times = page.jobs.map((j) => j.at!.getTime());
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(page.jobs.every((j) => typeof j.member === 'string')).toBe(true);

    const second = await api.inspector.jobs('list-delayed', 'delayed', { offset: 1, limit: 2 });
    expect(second.jobs.map((j) => j.id)).toEqual([ids[3], ids[4]]);

    // An untracked delayed job is promoted through its member.
    const first = page.jobs[0];
    expect(await admin.promote('list-delayed', first.id)).toBe(false); // untracked: not found by id alone
    expect(await admin.promote('list-delayed', first.id, first.member)).toBe(true);
    expect(await admin.promote('list-delayed', first.id, first.member)).toBe(false);
    const after = await api.inspector.jobs('list-delayed', 'ready');
    expect(after.jobs.map((j) => j.id)).toEqual([ids[1]]);
    expect((await api.inspector.counts('list-delayed')).delayed).toBe(4);
  });

  it('active jobs while they run, and dead and completed ones newest first', async () => {
    const release = deferred();
    const started = new Set<string>();
    await worker(
      'list-active',
      async (payload: { fail?: boolean }, job) => {
        started.add(job.id);
        if (payload.fail) throw new Error(`job ${job.id} fails`);
        await release.promise;
        return job.id;
      },
      4,
    );
    const running = await api.producer.enqueueMany('list-active', [1, 2, 3].map((n) => ({ payload: { n }, options: { track: true } })));
    await waitFor(() => running.every((id) => started.has(id)), 10_000, 'three running jobs');
    const active = await api.inspector.jobs('list-active', 'active');
    expect(active.total).toBe(3);
    expect(active.jobs.map((j) => j.id).sort()).toEqual([...running].sort());
    expect(active.jobs.every((j) => j.state === 'active')).toBe(true);
    expect((await api.inspector.jobs('list-active', 'active', { offset: 2 })).jobs).toHaveLength(1);

    const dead: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = await api.producer.enqueue('list-active', { fail: true, i }, { attempts: 1 });
      await stateOf('list-active', id, 'dead');
      dead.push(id);
    }
    const deadPage = await api.inspector.jobs('list-active', 'dead');
    expect(deadPage.total).toBe(3);
    expect(deadPage.jobs.map((j) => j.id)).toEqual([...dead].reverse());
    expect(deadPage.jobs[0]).toMatchObject({ state: 'dead', attemptsMade: 1, error: { name: 'Error', message: `job ${dead[2]} fails` } });
    expect((await api.inspector.jobs('list-active', 'dead', { offset: 1, limit: 1 })).jobs.map((j) => j.id)).toEqual([dead[1]]);

    release.resolve();
    for (const id of running) await stateOf('list-active', id, 'completed');
    const completed = await api.inspector.jobs('list-active', 'completed');
    expect(completed.total).toBe(3);
    expect(completed.jobs.map((j) => j.id).sort()).toEqual([...running].sort());
    expect(completed.jobs.every((j) => j.state === 'completed' && j.attemptsMade === 1)).toBe(true);
    expect(await api.inspector.counts('list-active')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 3 });
  });

  it('a limit above 1000 is capped, a negative offset starts at 0', async () => {
    await admin.pause('list-cap');
    await api.producer.enqueueMany('list-cap', Array.from({ length: 1200 }, (_, i) => ({ payload: i })));
    const page = await api.inspector.jobs('list-cap', 'ready', { offset: -5, limit: 5000 });
    expect(page.total).toBe(1200);
    expect(page.jobs).toHaveLength(1000);
    expect(page.jobs[0].payload).toBe(0);
  });

  it('lists what it can of a damaged record instead of failing the page', async () => {
    await admin.pause('list-damaged');
    await api.producer.enqueue('list-damaged', { ok: true });
    await raw.rpush(queueKeys(prefix, 'list-damaged').ready, 'garbage-without-separators');
    const page = await api.inspector.jobs('list-damaged', 'ready');
    expect(page.total).toBe(2);
    expect(page.jobs[0].payload).toEqual({ ok: true });
    expect(page.jobs[1].malformed).toMatch(/malformed job record/);
  });

  it('works from the engine with a plain client too (no Nest)', async () => {
    const client = new Redis(redisUrl());
    try {
      const inspector = new QueueInspector(client, prefix);
      const id = await api.producer.enqueue('engine-q', { x: 1 }, { track: true });
      expect(await inspector.job('engine-q', id)).toMatchObject({ state: 'ready', payload: { x: 1 } });
    } finally {
      client.disconnect();
    }
  });
});
