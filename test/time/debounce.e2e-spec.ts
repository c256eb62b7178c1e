// Debounce: enqueue option `debounce: { key, delay, maxWait }` collapses a burst into one job with the
// last payload, due `delay` ms after the last enqueue but never later than `maxWait` ms after the first.
import { Injectable } from '@nestjs/common';
import { InvalidOptionError, JobContext, QueueHandler } from 'nestjs-redis-queue';
import { deferred, sleep, uniquePrefix, waitFor } from '../support/helpers.js';
import { QueueApp, startQueueApp } from '../support/queue-app.js';

interface Run {
  id: string;
  payload: { user: number; n: number };
  attempt: number;
  maxAttempts: number;
  priority: number | undefined;
  startedAt: number;
}
const runs: Run[] = [];
/** Set by a test to hold the handler (the job stays active) until it resolves. */
let hold: Promise<void> | undefined;

@Injectable()
class Reindex {
  @QueueHandler('reindex', { concurrency: 4 })
  async run(payload: { user: number; n: number }, job: JobContext) {
    runs.push({ id: job.id, payload, attempt: job.attempt, maxAttempts: job.maxAttempts, priority: job.priority, startedAt: Date.now() });
    if (hold) await hold;
    return { reindexed: payload.user, n: payload.n };
  }
}

const runsOf = (id: string) => runs.filter((r) => r.id === id);

const apps: QueueApp[] = [];
async function app(options: Parameters<typeof startQueueApp>[1] = {}, providers = [Reindex]): Promise<QueueApp> {
  const started = await startQueueApp(providers, options);
  apps.push(started);
  return started;
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
  hold = undefined;
  runs.length = 0; // job ids start at 1 under each test's prefix
});

describe('debounce', () => {
  it('a burst collapses into one job with the last payload and options, due `delay` after the last enqueue (never before)', async () => {
    const q = await app({ prefix: uniquePrefix('debounce') });
    const debounce = { key: 'user-7', delay: 600 };
    const ids: string[] = [];
    for (let n = 1; n <= 5; n++) ids.push(await q.producer.enqueue('reindex', { user: 7, n }, { debounce, attempts: 1 }));
    // Calls in flight together travel in one script call; they collapse there too.
    ids.push(...(await Promise.all([6, 7, 8].map((n) => q.producer.enqueue('reindex', { user: 7, n }, { debounce })))));
    ids.push(...(await q.producer.enqueueMany('reindex', [9, 10].map((n) => ({ payload: { user: 7, n }, options: { debounce } })))));
    // Another key is another burst.
    const other = await q.producer.enqueue('reindex', { user: 8, n: 1 }, { debounce: { key: 'user-8', delay: 600 } });
    const lastSentAt = Date.now();
    const last = await q.producer.enqueue('reindex', { user: 7, n: 11 }, { debounce, attempts: 4, priority: 3 });
    ids.push(last);
    expect(new Set(ids).size).toBe(1);
    expect(other).not.toBe(last);
    expect((await q.inspector.counts('reindex')).delayed).toBe(2);

    await waitFor(() => runsOf(last).length === 1 && runsOf(other).length === 1, 10_000, 'both jobs');
    await waitFor(async () => (await q.inspector.counts('reindex')).active === 0, 10_000, 'the acks');
    expect(runsOf(last)).toEqual([{ id: last, payload: { user: 7, n: 11 }, attempt: 1, maxAttempts: 4, priority: 3, startedAt: expect.any(Number) }]);
    expect(runsOf(last)[0].startedAt).toBeGreaterThanOrEqual(lastSentAt + 600);
    expect(runsOf(other)[0].payload).toEqual({ user: 8, n: 1 });
    expect(runs.filter((r) => r.id === last || r.id === other)).toHaveLength(2);
    expect(await q.inspector.counts('reindex')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });

    // After the job ran, the next enqueue starts a new burst: a new job.
    const next = await q.producer.enqueue('reindex', { user: 7, n: 12 }, { debounce });
    expect(next).not.toBe(last);
    await waitFor(() => runsOf(next).length === 1, 10_000, 'the new burst');
    expect(runsOf(next)[0].payload).toEqual({ user: 7, n: 12 });
  });

  it('maxWait bounds the delay of a burst that never pauses; enqueues after the job became due start a new one', async () => {
    const q = await app({ prefix: uniquePrefix('debounce-max') });
    const debounce = { key: 'user-9', delay: 800, maxWait: 1500 };
    const firstSentAt = Date.now();
    const first = await q.producer.enqueue('reindex', { user: 9, n: 0 }, { debounce, track: true });
    const firstStoredBy = Date.now();
    const returned: Array<{ n: number; id: string }> = [{ n: 0, id: first }];
    const runAts: number[] = [];
    // Enqueue every 100 ms (more often than `delay`) until the first job has run.
    for (let n = 1; runsOf(first).length === 0; n++) {
      if (Date.now() - firstSentAt > 30_000) throw new Error('the burst never ran: maxWait did not bound it');
      returned.push({ n, id: await q.producer.enqueue('reindex', { user: 9, n }, { debounce, track: true }) });
      const info = await q.inspector.job('reindex', first);
      if (info?.state === 'delayed') runAts.push(info.runAt!.getTime());
      await sleep(100);
    }
    // Its due time only moved later, and never past maxWait after the first enqueue.
    expect(runAts.length).toBeGreaterThan(0);
    for (let i = 1; i < runAts.length; i++) expect(runAts[i]).toBeGreaterThanOrEqual(runAts[i - 1]);
    expect(Math.max(...runAts)).toBeLessThanOrEqual(firstStoredBy + 1500);
    const ran = runsOf(first)[0];
    expect(ran.startedAt).toBeGreaterThanOrEqual(firstSentAt + 1500); // pinned to first + maxWait: not earlier
    // It ran with the payload of the last enqueue that collapsed into it; the later ones made a new job.
    const collapsed = returned.filter((r) => r.id === first);
    expect(ran.payload).toEqual({ user: 9, n: collapsed[collapsed.length - 1].n });
    const later = returned.slice(collapsed.length);
    expect(returned.slice(0, collapsed.length).every((r) => r.id === first)).toBe(true);
    if (later.length > 0) {
      expect(new Set(later.map((r) => r.id)).size).toBe(1);
      expect(later[0].id).not.toBe(first);
      await waitFor(() => runsOf(later[0].id).length === 1, 10_000, 'the second burst');
      expect(runsOf(later[0].id)[0].payload).toEqual({ user: 9, n: later[later.length - 1].n });
    }
  });

  it('with tracking, job() shows the one job delayed with the latest payload and due time; then its result', async () => {
    const q = await app({ prefix: uniquePrefix('debounce-track') });
    const debounce = { key: 'user-3', delay: 400 };
    const id = await q.producer.enqueue('reindex', { user: 3, n: 1 }, { debounce, track: true });
    const firstInfo = await q.inspector.job('reindex', id);
    expect(firstInfo).toMatchObject({ id, state: 'delayed', payload: { user: 3, n: 1 }, tracked: true, attemptsMade: 0 });
    await sleep(100);
    expect(await q.producer.enqueue('reindex', { user: 3, n: 2 }, { debounce, track: true })).toBe(id);
    const secondInfo = await q.inspector.job('reindex', id);
    expect(secondInfo).toMatchObject({ id, state: 'delayed', payload: { user: 3, n: 2 }, enqueuedAt: firstInfo!.enqueuedAt });
    expect(secondInfo!.runAt!.getTime()).toBeGreaterThanOrEqual(firstInfo!.runAt!.getTime() + 100);
    await waitFor(async () => (await q.inspector.job('reindex', id))?.state === 'completed', 10_000, 'the job to complete');
    expect(await q.inspector.job('reindex', id)).toMatchObject({ state: 'completed', result: { reindexed: 3, n: 2 }, payload: { user: 3, n: 2 } });
    expect(runsOf(id)).toHaveLength(1);
  });

  // BUG (claim.lua): a round trip that promotes a tracked delayed job and claims it in the same script
  // call reads M.tracked (tracked jobs waiting in ready) before promoteDue() adds it, so the claim skips
  // the tracked entry: job() keeps saying 'ready' (with the counter 'tracked' left one too high) while
  // the job runs. That is the usual path for a delayed job, a retry after backoff, a debounced job or a
  // schedule's tick job: an idle worker wakes at the due time and does both in one call. Expected:
  // 'active' while it runs.
  it('a tracked debounced job shows as active in job() while it runs', async () => {
    const q = await app({ prefix: uniquePrefix('debounce-active') });
    const release = deferred();
    hold = release.promise;
    try {
      const id = await q.producer.enqueue('reindex', { user: 4, n: 1 }, { debounce: { key: 'user-4', delay: 200 }, track: true });
      await waitFor(() => runsOf(id).length === 1, 10_000, 'the job to start');
      expect((await q.inspector.job('reindex', id))?.state).toBe('active');
    } finally {
      release.resolve();
    }
  });

  it('a job already running is not changed: the next enqueue with its key makes a new job', async () => {
    const q = await app({ prefix: uniquePrefix('debounce-running') });
    const release = deferred();
    hold = release.promise;
    const debounce = { key: 'user-5', delay: 100 };
    try {
      const first = await q.producer.enqueue('reindex', { user: 5, n: 1 }, { debounce });
      await waitFor(() => runsOf(first).length === 1, 10_000, 'the first job to start');
      const second = await q.producer.enqueue('reindex', { user: 5, n: 2 }, { debounce });
      expect(second).not.toBe(first);
      await waitFor(() => runsOf(second).length === 1, 10_000, 'the second job to start');
      expect(runsOf(first)[0].payload).toEqual({ user: 5, n: 1 });
      expect(runsOf(second)[0].payload).toEqual({ user: 5, n: 2 });
    } finally {
      release.resolve();
    }
  });

  it('a cancelled debounced job is gone; the next enqueue with its key starts a new burst', async () => {
    const q = await app({ prefix: uniquePrefix('debounce-cancel'), consumers: false });
    const debounce = { key: 'user-6', delay: 60_000 };
    const first = await q.producer.enqueue('reindex', { user: 6, n: 1 }, { debounce, track: true });
    expect(await q.producer.cancel('reindex', first)).toEqual({ outcome: 'removed', state: 'delayed' });
    const second = await q.producer.enqueue('reindex', { user: 6, n: 2 }, { debounce, track: true });
    expect(second).not.toBe(first);
    expect(await q.inspector.job('reindex', second)).toMatchObject({ state: 'delayed', payload: { user: 6, n: 2 } });
    expect((await q.inspector.counts('reindex')).delayed).toBe(1);
  });

  it('rejects bad debounce options naming the field, and stores nothing', async () => {
    const q = await app({ prefix: uniquePrefix('debounce-invalid'), consumers: false });
    const cases: Array<[object, string]> = [
      [{ debounce: { key: 'k', delay: 100 }, delay: 10 }, 'debounce'],
      [{ debounce: { key: 'k', delay: 100 }, runAt: new Date() }, 'debounce'],
      [{ debounce: { key: 'k', delay: 100 }, jobId: 'j' }, 'debounce'],
      [{ debounce: 'k' }, 'debounce'],
      [{ debounce: { delay: 100 } }, 'debounce.key'],
      [{ debounce: { key: 'a{b}', delay: 100 } }, 'debounce.key'],
      [{ debounce: { key: 'k' } }, 'debounce.delay'],
      [{ debounce: { key: 'k', delay: 0 } }, 'debounce.delay'],
      [{ debounce: { key: 'k', delay: 25 * 3_600_000 } }, 'debounce.delay'],
      [{ debounce: { key: 'k', delay: 500, maxWait: 100 } }, 'debounce.maxWait'],
      [{ debounce: { key: 'k', delay: 100, wait: 5 } }, 'debounce.wait'],
    ];
    for (const [options, field] of cases) {
      const error = await q.producer.enqueue('reindex', { user: 1, n: 1 }, options).catch((e: unknown) => e);
      expect({ options, error }).toEqual({ options, error: expect.any(InvalidOptionError) });
      expect({ options, field: (error as InvalidOptionError).field }).toEqual({ options, field });
    }
    const many = await q.producer.enqueueMany('reindex', [{ payload: {}, options: { debounce: { key: 'k', delay: 1 } } }, { payload: {}, options: { debounce: { key: 'k', delay: 0 } } }]).catch((e: unknown) => e);
    expect(many).toBeInstanceOf(InvalidOptionError);
    expect((many as Error).message).toMatch(/^job 1: /);
    expect(await q.inspector.counts('reindex')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
  });
});
