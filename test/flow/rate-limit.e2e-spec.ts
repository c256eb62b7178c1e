import { jest } from '@jest/globals';
import { writeFileSync } from 'fs';
import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { JobContext, OnQueueEvent, QueueHandler, RateLimitedError, type QueueEvent } from 'nestjs-redis-queue';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { rawClient, uniquePrefix, waitFor } from '../support/helpers.js';
import { QueueApp, startQueueApp } from '../support/queue-app.js';
import { busiestWindow, FlowWorkers, perWindow, Start } from './support/flow-workers.js';

// Worker processes on a loaded machine: a generous guard against hanging (tests wait for conditions).
jest.setTimeout(180_000);

/**
 * Where a start happened on each clock. The engine counts a start when the claim script hands the job
 * out, on Redis's clock (TIME inside the script, in whole ms); the handler starts `lag` later (the reply
 * on the wire, decoding, the worker's event loop). Both clocks are this machine's: `at` is Date.now() in
 * the handler; the claim time comes from the claim token, which carries TIME's microseconds field (see
 * test/fixtures/flow-worker.ts).
 */
function clocks(starts: Start[]) {
  return {
    atHandlerStart: starts.map((s) => s.at),
    atClaim: starts.map((s) => s.claimAt),
    lagsMs: starts.map((s) => s.lagUs / 1000).sort((a, b) => a - b),
  };
}

const throttledRuns: Array<{ id: string; attempt: number; at: number }> = [];
const throttledEvents: QueueEvent[] = [];

@Injectable()
class ThrottledHandler {
  // One attempt only: a failure would dead-letter the job at once, so it shows that the throttled
  // deliveries did not count.
  @QueueHandler('throttled', { attempts: 1 })
  send(payload: { times: number }, job: JobContext) {
    throttledRuns.push({ id: job.id, attempt: job.attempt, at: Date.now() });
    const earlier = throttledRuns.filter((r) => r.id === job.id).length - 1;
    if (earlier < payload.times) throw new RateLimitedError(300);
  }

  @OnQueueEvent('throttled', '*')
  heard(event: QueueEvent) {
    throttledEvents.push(event);
  }
}

async function scriptCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  return [...info.matchAll(/^cmdstat_(?:evalsha|eval|evalsha_ro|eval_ro|fcall):calls=(\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

describe('RateLimitedError', () => {
  it('puts the job back for retryAfterMs without counting an attempt (no failed event, no dead letter)', async () => {
    const app = await startQueueApp([ThrottledHandler], { prefix: uniquePrefix('flow-throttled') });
    try {
      const id = await app.producer.enqueue('throttled', { times: 2 }, { track: true });
      await waitFor(() => throttledRuns.length === 1, 10_000, 'the first delivery');
      // Back in the delayed set with nothing spent.
      const waiting = await waitFor(async () => {
        const info = await app.inspector.job('throttled', id);
        return info?.state === 'delayed' ? info : undefined;
      }, 10_000, 'the job to wait for its retry');
      expect(waiting.attemptsMade).toBe(0);
      await waitFor(async () => (await app.inspector.job('throttled', id))?.state === 'completed', 20_000, 'the job to complete');
      expect(throttledRuns.map((r) => r.attempt)).toEqual([1, 1, 1]);
      // Never before retryAfterMs (a lower bound: correctness, not speed).
      expect(throttledRuns[1].at - throttledRuns[0].at).toBeGreaterThanOrEqual(300 - 2);
      expect(throttledRuns[2].at - throttledRuns[1].at).toBeGreaterThanOrEqual(300 - 2);
      const info = await app.inspector.job('throttled', id);
      expect(info).toMatchObject({ state: 'completed', attemptsMade: 1 });
      await waitFor(() => throttledEvents.some((e) => e.event === 'completed'), 10_000, 'the completed event');
      expect(throttledEvents.filter((e) => e.event === 'failed' || e.event === 'dead')).toEqual([]);
      expect(await app.inspector.counts('throttled')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
    } finally {
      await app.close();
    }
  });
});

const limitedRuns: Array<{ n: number; at: number }> = [];

@Injectable()
class LimitedHandler {
  @QueueHandler('limited', { concurrency: 4, rateLimit: { max: 2, duration: 1500 } })
  run(payload: { n: number }) {
    limitedRuns.push({ n: payload.n, at: Date.now() });
  }
}

const sleepyRuns: number[] = [];

@Injectable()
class SleepyHandler {
  @QueueHandler('sleepy', { concurrency: 4, rateLimit: { max: 1, duration: 1000 } })
  run() {
    sleepyRuns.push(Date.now());
  }
}

describe('rate limit: waking up for the next start', () => {
  it('while the limit holds ready jobs back, the worker sleeps until the next start is allowed (no polling)', async () => {
    // Counted by Redis (INFO commandstats) on a server of this test's own, between the first start and the
    // fourth: three windows in which three jobs wait.
    const server = await RedisServer.start();
    const redis = server.client();
    const app = await startQueueApp([SleepyHandler], { connection: server.url, prefix: uniquePrefix('flow-sleepy') });
    try {
      await app.producer.enqueueMany('sleepy', Array.from({ length: 4 }, (_, n) => ({ payload: { n } })));
      await waitFor(() => sleepyRuns.length >= 1, 10_000, 'the first start');
      const before = await scriptCalls(redis);
      await waitFor(() => sleepyRuns.length >= 4, 20_000, 'the fourth start');
      const calls = (await scriptCalls(redis)) - before;
      process.stdout.write(`rate limit 1/1000 ms, 3 jobs waiting: ${calls} script calls over 3 windows\n`);
      // The claim when the window lets the next job in, the ack of the job before: measured 3 per window.
      // A worker polling every few ms would make hundreds.
      expect(calls).toBeLessThanOrEqual(3 * 6);
      // One start per window, never early.
      for (let i = 1; i < 4; i++) expect(sleepyRuns[i] - sleepyRuns[i - 1]).toBeGreaterThanOrEqual(1000 - 2);
    } finally {
      await app.close();
      redis.disconnect();
      await server.stop();
    }
  });

  // BUG (enqueue.lua / claim.lua): a job enqueued while the window is full and every worker is idle is
  // never started. The enqueue announces only when a start is allowed right now (commitBatch checks
  // grantable), and the idle workers armed no timer for the window: their last claim saw no ready job, so
  // it returned no rate-limit wake-up time (claim.lua adds rateFreeAt only when anyReady()). Nothing wakes
  // them when the window frees; the job waits for some other event (another enqueue once the window has
  // room, a restart).
  it('a job enqueued while the window is full starts once the window frees, without another event', async () => {
    const app = await startQueueApp([LimitedHandler], { prefix: uniquePrefix('flow-rate-wake') });
    try {
      await app.producer.enqueueMany('limited', [{ payload: { n: 1 } }, { payload: { n: 2 } }]);
      await waitFor(() => limitedRuns.length === 2, 10_000, 'the first window');
      await waitFor(async () => (await app.inspector.counts('limited')).active === 0, 10_000, 'the acks');
      await app.producer.enqueue('limited', { n: 3 });
      // The window frees 1.5 s after the first start: 15 s is a guard against waiting forever.
      await waitFor(() => limitedRuns.length === 3, 15_000, 'the third job, once the window frees');
      expect(limitedRuns[2].at - limitedRuns[0].at).toBeGreaterThanOrEqual(1500 - 2);
    } finally {
      await app.close();
    }
  });
});

describe('rate limit shared by every worker (3 processes)', () => {
  const max = 20;
  const duration = 500;
  const jobs = 240; // 12 windows' worth
  let q: QueueApp;
  let redis: Redis;
  let workers: FlowWorkers | undefined;
  let starts: Start[];

  beforeAll(async () => {
    q = await startQueueApp([], { prefix: uniquePrefix('flow-rate'), consumers: false });
    redis = rawClient();
    workers = await new FlowWorkers({
      queue: 'rate',
      prefix: q.prefix,
      processes: 3,
      concurrency: 8, // 3 x 8 slots: the limit, not the slots, is what holds jobs back
      handler: { rateLimit: { max, duration } },
    }).start();
    await q.producer.enqueueMany('rate', Array.from({ length: jobs }, (_, n) => ({ payload: { n } })));
    starts = await workers.waitForStarts(jobs);
    // FLOW_DUMP=path keeps every start (claim times, lags, processes) for a closer look at the windows.
    if (process.env.FLOW_DUMP) writeFileSync(process.env.FLOW_DUMP, JSON.stringify(starts));
    const c = clocks(starts);
    const lag = (p: number) => c.lagsMs[Math.min(c.lagsMs.length - 1, Math.floor(c.lagsMs.length * p))].toFixed(1);
    process.stdout.write(
      `rate limit ${max}/${duration} ms, 3 processes, ${jobs} jobs: busiest window at claim (Redis clock) ` +
        `${busiestWindow(c.atClaim, duration).count}, at handler start ${busiestWindow(c.atHandlerStart, duration).count}; ` +
        `claim-to-start lag p50 ${lag(0.5)} ms, p99 ${lag(0.99)} ms, max ${lag(1)} ms\n`,
    );
  }, 120_000);
  afterAll(async () => {
    await workers?.stop();
    redis.disconnect();
    await q.close();
  });

  it('never starts more than max jobs in any window: exactly at claim, and at handler start within the claim-to-start lag', () => {
    const c = clocks(starts);
    expect(starts).toHaveLength(jobs);
    // What the engine guarantees, exactly: on Redis's clock, no window holds more than `max` starts.
    expect(busiestWindow(c.atClaim, duration).count).toBeLessThanOrEqual(max);
    // At handler start the same holds for windows shortened by the spread of the lags (largest minus
    // smallest) and 1 ms for rounding both clocks to ms: two starts less than `duration - 1 - spread` apart
    // at handler start were claimed less than `duration - 1` apart, which the engine never allows. Checked
    // on the handlers' own clock (Date.now()), so it does not rest on the claim times above.
    const spread = Math.ceil(c.lagsMs[c.lagsMs.length - 1] - c.lagsMs[0]);
    expect(busiestWindow(c.atHandlerStart, duration - 1 - spread).count).toBeLessThanOrEqual(max);
  });

  it('reaches the limit: the first 10 windows from the first start hold at least 90% of 10 x max starts', () => {
    // Counted in windows, not time: every job was ready and the slots were free, so each window should be
    // full. Each window's first claim comes ~1-3 ms after the window before allows it, so 10 windows drift
    // by tens of ms at most: 90% leaves one whole window of slack for a loaded machine.
    const at = starts.map((s) => s.at);
    const counts = perWindow(at, Math.min(...at), duration, 10);
    expect(counts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(0.9 * 10 * max);
  });

  // Strictly at handler start, with no allowance for the lag: opt in with FLOW_STRICT_RATE=1. It is not
  // part of the regular run because it depends on the machine's load, not on the engine's logic: the
  // engine counts a start when it hands the job out and lets the next one in 1 ms after the window's
  // oldest start leaves it, so when a batch's handlers start later after their claim than the next
  // window's batch does (a worker's event loop busy for a few ms: GC, another lane's jobs, a loaded
  // machine), one window at handler start holds both batches. Measured here (2 cores, shared): quiet, the
  // busiest window at handler start was 20 for a limit of 20 (lag max 3-5 ms); loaded, 28 (lag max 57 ms).
  (process.env.FLOW_STRICT_RATE === '1' ? it : it.skip)('never starts more than max jobs in any window at handler start, strictly', () => {
    expect(busiestWindow(clocks(starts).atHandlerStart, duration).count).toBeLessThanOrEqual(max);
  });
});
