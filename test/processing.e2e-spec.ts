import { Injectable } from '@nestjs/common';
import { JobContext, PermanentJobError, QueueHandler } from 'nestjs-redis-queue';
import { deferred, sleep, waitFor } from './support/helpers.js';
import { QueueApp, startQueueApp } from './support/queue-app.js';

interface Seen {
  payload: unknown;
  job: JobContext;
  signalAborted: boolean;
  at: number;
}

/** What the handlers saw, per queue; reset before each test. */
let seen: Record<string, Seen[]> = {};
const record = (queue: string, payload: unknown, job: JobContext) =>
  (seen[queue] ??= []).push({ payload, job, signalAborted: job.signal.aborted, at: Date.now() });

let running = 0;
let maxRunning = 0;
let gate = deferred();

@Injectable()
class Handlers {
  @QueueHandler('email')
  async email(payload: { to: string }, job: JobContext) {
    record('email', payload, job);
  }

  @QueueHandler('slow', { concurrency: 3 })
  async slow(payload: { n: number }, job: JobContext) {
    running++;
    maxRunning = Math.max(maxRunning, running);
    record('slow', payload, job);
    await gate.promise;
    running--;
  }

  @QueueHandler('flaky', { attempts: 3, backoff: { type: 'fixed', delay: 20 } })
  async flaky(payload: { failTimes: number }, job: JobContext) {
    record('flaky', payload, job);
    if (job.attempt <= payload.failTimes) throw new Error(`transient failure ${job.attempt}`);
  }

  @QueueHandler('doomed', { attempts: 2, backoff: { type: 'fixed', delay: 20 } })
  async doomed(payload: { permanent: boolean }, job: JobContext) {
    record('doomed', payload, job);
    if (payload.permanent) throw new PermanentJobError('mailbox does not exist');
    throw new Error('smtp down');
  }

  @QueueHandler('later')
  async later(payload: { expectAt: number }, job: JobContext) {
    record('later', payload, job);
  }
}

describe('processing', () => {
  let q: QueueApp;

  beforeAll(async () => {
    q = await startQueueApp([Handlers]);
  });
  afterAll(() => q.close());
  beforeEach(() => {
    seen = {};
  });

  it('runs the handler with the payload and a complete job context', async () => {
    const before = Date.now();
    const id = await q.producer.enqueue('email', { to: 'ada@example.com' }, { traceId: 'req-7' });
    const [{ payload, job, signalAborted }] = await waitFor(() => seen.email, 5000, 'the email handler');
    expect(payload).toEqual({ to: 'ada@example.com' });
    expect(job.id).toBe(id);
    expect(job.queue).toBe('email');
    expect(job.attempt).toBe(1);
    expect(job.maxAttempts).toBe(3);
    expect(job.traceId).toBe('req-7');
    expect(job.enqueuedAt).toBeInstanceOf(Date);
    expect(Math.abs(job.enqueuedAt.getTime() - before)).toBeLessThan(5000);
    expect(job.signal).toBeInstanceOf(AbortSignal);
    expect(signalAborted).toBe(false);
    await waitFor(async () => (await q.inspector.counts('email')).active === 0, 5000, 'the ack');
    expect(await q.inspector.counts('email')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
  });

  it('resolves enqueue only once the job is stored', async () => {
    const ids = await q.producer.enqueueMany('later', [
      { payload: { expectAt: 0 }, options: { delay: 60_000 } },
      { payload: { expectAt: 0 }, options: { delay: 60_000 } },
    ]);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    expect((await q.inspector.counts('later')).delayed).toBe(2);
  });

  it('honours the concurrency limit exactly', async () => {
    running = maxRunning = 0;
    gate = deferred();
    await q.producer.enqueueMany('slow', Array.from({ length: 10 }, (_, n) => ({ payload: { n } })));
    await waitFor(() => seen.slow?.length === 3, 5000, 'three jobs to start');
    await sleep(300); // room for a fourth to start, if the limit leaked
    expect(running).toBe(3);
    expect((await q.inspector.counts('slow')).active).toBe(3);
    expect((await q.inspector.counts('slow')).ready).toBe(7);
    gate.resolve();
    await waitFor(() => seen.slow?.length === 10, 5000, 'all ten jobs');
    expect(maxRunning).toBe(3);
  });

  it('retries a failing job with backoff until it succeeds', async () => {
    await q.producer.enqueue('flaky', { failTimes: 2 });
    await waitFor(() => seen.flaky?.length === 3, 5000, 'three attempts');
    expect(seen.flaky.map((s) => s.job.attempt)).toEqual([1, 2, 3]);
    expect(seen.flaky[1].at - seen.flaky[0].at).toBeGreaterThanOrEqual(15); // fixed 20 ms, 20% jitter
    await waitFor(async () => (await q.inspector.counts('flaky')).active === 0, 5000, 'the final ack');
    expect(await q.inspector.counts('flaky')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
  });

  it('dead-letters after the last attempt, keeping payload, attempts and the error', async () => {
    const id = await q.producer.enqueue('doomed', { permanent: false });
    const dead = await waitFor(() => q.inspector.deadJob('doomed', id), 5000, 'the dead letter');
    expect(seen.doomed.map((s) => s.job.attempt)).toEqual([1, 2]);
    expect(dead.payload).toEqual({ permanent: false });
    expect(dead.attemptsMade).toBe(2);
    expect(dead.error.message).toBe('smtp down');
    expect(dead.error.stack).toContain('smtp down');
    expect(dead.failedAt.getTime()).toBeGreaterThan(Date.now() - 10_000);
    expect(await q.inspector.counts('doomed')).toMatchObject({ ready: 0, delayed: 0, active: 0, dead: 1 });
  });

  it('dead-letters a permanent failure at once, without further attempts', async () => {
    const id = await q.producer.enqueue('doomed', { permanent: true }, { attempts: 5 });
    const dead = await waitFor(() => q.inspector.deadJob('doomed', id), 5000, 'the dead letter');
    await sleep(200);
    expect(seen.doomed).toHaveLength(1);
    expect(dead.error).toMatchObject({ name: 'PermanentJobError', message: 'mailbox does not exist' });
    expect(dead.attemptsMade).toBe(1);
  });

  it('never runs a delayed job early, and runs it promptly when due', async () => {
    const start = Date.now();
    await q.producer.enqueue('later', { expectAt: start + 400 }, { delay: 400 });
    await q.producer.enqueue('later', { expectAt: start + 700 }, { runAt: new Date(start + 700) });
    // Promptly: without a poll interval or any other event to wake the worker (the benchmark measures
    // lateness); never early: the lower bound is the correctness this test checks.
    await waitFor(() => seen.later?.length === 2, 20_000, 'both delayed jobs');
    for (const s of seen.later) {
      const { expectAt } = s.payload as { expectAt: number };
      expect(s.at).toBeGreaterThanOrEqual(expectAt);
    }
  });

  it('stores a caller-chosen jobId once while it is in the queue', async () => {
    const first = await q.producer.enqueue('later', { expectAt: 0 }, { jobId: 'welcome-ada', delay: 60_000 });
    const again = await q.producer.enqueue('later', { expectAt: 1 }, { jobId: 'welcome-ada' });
    const many = await q.producer.enqueueMany('later', [
      { payload: { expectAt: 2 }, options: { jobId: 'welcome-ada' } },
      { payload: { expectAt: 3 }, options: { jobId: 'welcome-bob', delay: 60_000 } },
    ]);
    expect([first, again, ...many]).toEqual(['welcome-ada', 'welcome-ada', 'welcome-ada', 'welcome-bob']);
    const counts = await q.inspector.counts('later');
    expect(counts.ready + counts.active).toBe(0);
    expect(seen.later).toBeUndefined();
  });

  it('keeps a completed jobId taken for jobIdRetention, then lets it be used again', async () => {
    const retaining = await startQueueApp([Handlers], { jobIdRetention: 400 });
    await retaining.producer.enqueue('email', { to: 'first' }, { jobId: 'once' });
    await waitFor(() => seen.email?.length === 1, 5000, 'the first job');
    await waitFor(async () => (await retaining.inspector.counts('email')).active === 0, 5000, 'its ack');
    // A producer retrying within the window (say after a timeout) does not run the job again...
    expect(await retaining.producer.enqueue('email', { to: 'retry' }, { jobId: 'once' })).toBe('once');
    expect(await retaining.inspector.counts('email')).toMatchObject({ ready: 0, active: 0 });
    // ...and after it, the id is free.
    await sleep(500);
    await retaining.producer.enqueue('email', { to: 'second' }, { jobId: 'once' });
    await waitFor(() => seen.email?.length === 2, 5000, 'the second job');
    expect(seen.email.map((s) => s.payload)).toEqual([{ to: 'first' }, { to: 'second' }]);
    await retaining.close();
  });
});
