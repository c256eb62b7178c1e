import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import {
  InvalidOptionError,
  JobCancelledError,
  JobDeadLetteredError,
  OnQueueEvent,
  QueueAdmin,
  WaitTimeoutError,
} from 'nestjs-redis-queue';
import type { QueueEvent } from 'nestjs-redis-queue';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { queueKeys } from '../../libs/redis-queue/src/engine/index.js';
import { RedisQueueConnections } from '../../libs/redis-queue/src/redis-queue.connections.js';
import { deferred, rawClient, uniquePrefix, waitFor } from '../support/helpers.js';
import { QueueApp, startQueueApp } from '../support/queue-app.js';
import { commandsByName, commandsExecuted, handlerFor, waitForSubscribers, type TestHandler } from '../support/steering.js';

// JobContext.progress(), stored results and QueueProducer.waitForResult().

const prefix = uniquePrefix('results');
let api: QueueApp;
let raw: Redis;
const apps: QueueApp[] = [];

async function worker(queue: string, run: TestHandler, options: { concurrency?: number; url?: string; prefix?: string } = {}) {
  const app = await startQueueApp([handlerFor(queue, run, { concurrency: options.concurrency ?? 1 })], {
    prefix: options.prefix ?? prefix,
    shutdownTimeout: 1000,
    ...(options.url ? { connection: options.url } : {}),
  });
  apps.push(app);
  return app;
}

/**
 * Waits until job() says the job finished. (waitForResult() started while a job is settling can reject
 * by mistake: see the race below; these tests start their waits in stable states.)
 */
async function finished(queue: string, id: string): Promise<void> {
  await waitFor(
    async () => ['completed', 'dead', 'cancelled'].includes((await api.inspector.job(queue, id))?.state ?? ''),
    15_000,
    `job ${id} of "${queue}" to finish`,
  );
}

/**
 * After waitForResult() was called: resolves once its first look at the job has been answered. It looks
 * once the API app's subscriber is subscribed (with the worker app's: 2 subscribers of the channel),
 * over the producer connection; round trips on that connection after it come back after that look's
 * reads (two at most).
 */
async function waitStarted(queue: string): Promise<void> {
  await waitForSubscribers(raw, prefix, queue, 2);
  for (let i = 0; i < 3; i++) await api.inspector.counts(queue);
}

beforeAll(async () => {
  api = await startQueueApp([], { prefix, consumers: false });
  raw = rawClient();
});

afterAll(async () => {
  await Promise.all(apps.map((app) => app.close()));
  await api.close();
  raw.disconnect();
});

describe('progress', () => {
  it('the latest value is visible through job() while the job runs', async () => {
    const release = deferred();
    const step = deferred<number>();
    let reached = 0;
    await worker('progress-q', async (_payload, job) => {
      for (const percent of [10, 50, 90]) {
        await job.progress({ percent, note: `at ${percent}%` });
        reached = percent;
        if (percent === 50) step.resolve(percent);
        if (percent === 90) await release.promise;
      }
      return 'rendered';
    });
    const id = await api.producer.enqueue('progress-q', {}, { track: true });
    await step.promise;
    await waitFor(async () => ((await api.inspector.job('progress-q', id))?.progress as { percent: number } | undefined)?.percent === 90, 10_000, '90%');
    expect(reached).toBe(90);
    expect((await api.inspector.job('progress-q', id))!).toMatchObject({ state: 'active', progress: { percent: 90, note: 'at 90%' } });
    const result = api.producer.waitForResult('progress-q', id);
    await waitStarted('progress-q');
    release.resolve();
    await expect(result).resolves.toBe('rendered');
  });

  it('an untracked job nobody listens to: progress() resolves and costs nothing', async () => {
    const done = deferred<unknown>();
    await worker('progress-free-q', async (_payload, job) => {
      const started = Date.now();
      await job.progress(1);
      done.resolve(Date.now() - started);
    });
    await api.producer.enqueue('progress-free-q', {});
    await done.promise;
    expect(await raw.exists(queueKeys(prefix, 'progress-free-q').events, queueKeys(prefix, 'progress-free-q').track)).toBe(0);
  });

  it('a bad progress value is refused in the handler, naming the problem', async () => {
    const outcome = deferred<string>();
    await worker('progress-bad-q', async (_payload, job) => {
      try {
        await job.progress({ big: 10n });
        outcome.resolve('accepted');
      } catch (error) {
        outcome.resolve((error as Error).message);
      }
    });
    await api.producer.enqueue('progress-bad-q', {}, { track: true });
    expect(await outcome.promise).toMatch(/BigInt/);
  });

  describe('in a tight loop, on a Redis of its own (to count its commands)', () => {
    let server: RedisServer;
    let client: Redis;
    beforeAll(async () => {
      server = await RedisServer.start();
      client = server.client();
    });
    afterAll(async () => {
      client.disconnect();
      await server.stop();
    });

    /**
     * Runs one tracked job whose handler calls progress() `calls` times as `loop` says, on the Redis of
     * its own; resolves with the script calls (round trips: every state change is one script) and every
     * command Redis ran meanwhile (INFO commandstats counts those inside scripts too), and the loop's ms.
     */
    async function progressLoop(calls: number, loop: 'sync' | 'yielding' | 'awaited') {
      const own = uniquePrefix('tight');
      const gate = deferred();
      const finished = deferred<number>();
      await worker(
        'tight-q',
        async (_payload, job) => {
          await gate.promise;
          const began = Date.now();
          let last: Promise<void> = Promise.resolve();
          for (let i = 1; i <= calls; i++) {
            if (loop === 'awaited') {
              await job.progress(i);
              continue;
            }
            last = job.progress(i);
            // Let timers and I/O run now and then, as real work would.
            if (loop === 'yielding' && i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
          }
          await last;
          finished.resolve(Date.now() - began);
          return 'ok';
        },
        { url: server.url, prefix: own },
      );
      const producerApp = await startQueueApp([], { prefix: own, consumers: false, connection: server.url });
      apps.push(producerApp);
      const id = await producerApp.producer.enqueue('tight-q', {}, { track: true });
      await waitFor(async () => (await producerApp.inspector.job('tight-q', id))?.state === 'active', 10_000, 'the job to start');
      const before = await commandsByName(client);
      const totalBefore = await commandsExecuted(client);
      gate.resolve();
      const ms = await finished.promise;
      const after = await commandsByName(client);
      const total = (await commandsExecuted(client)) - totalBefore;
      const scripts = (after.evalsha ?? 0) + (after.eval ?? 0) - (before.evalsha ?? 0) - (before.eval ?? 0);
      expect(await producerApp.producer.waitForResult('tight-q', id)).toBe('ok');
      expect((await producerApp.inspector.job('tight-q', id))!.state).toBe('completed');
      return { scripts, total, ms, last: calls };
    }

    it('100,000 progress() calls in a synchronous loop cost one round trip', async () => {
      const { scripts, total } = await progressLoop(100_000, 'sync');
      expect(scripts).toBeLessThanOrEqual(3);
      expect(total).toBeLessThan(200);
    });

    it('100,000 progress() calls while the event loop turns: far fewer round trips than calls', async () => {
      const { scripts, total } = await progressLoop(100_000, 'yielding');
      expect(scripts).toBeLessThan(1000);
      expect(total).toBeLessThan(100_000);
    });

    // BUG (engine, worker.ts lane/progress): the 50 ms progress throttle only delays the first wake-up
    // of the lane. The lane loop counts a pending progress value as a settle (`settleCount` includes
    // `progress`) and sends a round trip as soon as it runs, so `await job.progress(i)` in a loop costs
    // one script call per call: progress() resolves inside the round trip, the handler's next call is
    // pending before the lane looks again, and the lane sends it at once (200 awaited calls: 200 script
    // calls in ~70 ms, ~2,400 commands counting the script's own). A handler that keeps reporting while
    // the event loop turns chains round trips the same way, depending on timing (100,000 calls yielding
    // every 1000: ~90 round trips in ~200 ms in one run, within the throttle in another). The bound below
    // is the throttle's own promise: at most one round trip per 50 ms of the loop, plus claim and ack.
    it('awaited progress() calls one after another: at most one round trip per 50 ms', async () => {
      const { scripts, ms } = await progressLoop(100, 'awaited');
      expect(scripts).toBeLessThanOrEqual(Math.ceil(ms / 50) + 3);
    });

    it('progress events are batched the same way: few stream entries for 20,000 calls', async () => {
      const own = uniquePrefix('tight-ev');
      const heard: QueueEvent[] = [];
      @Injectable()
      class Listener {
        @OnQueueEvent('tight-ev-q', 'progress')
        onProgress(event: QueueEvent) {
          heard.push(event);
        }
      }
      const listenerApp = await startQueueApp([Listener], { prefix: own, consumers: false, connection: server.url });
      apps.push(listenerApp);
      const finished = deferred();
      await worker(
        'tight-ev-q',
        async (_payload, job) => {
          let last: Promise<void> = Promise.resolve();
          for (let i = 1; i <= 20_000; i++) {
            last = job.progress(i);
            if (i % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
          }
          await last;
          finished.resolve();
        },
        { url: server.url, prefix: own },
      );
      // Untracked: progress goes to events only, because someone listens.
      const id = await listenerApp.producer.enqueue('tight-ev-q', {});
      await finished.promise;
      await waitFor(() => heard.some((e) => e.progress === 20_000), 10_000, 'the last progress event');
      const entries = await client.xlen(queueKeys(own, 'tight-ev-q').events);
      expect(entries).toBeLessThan(200);
      expect(heard.every((e) => e.id === id && e.queue === 'tight-ev-q')).toBe(true);
      const values = heard.map((e) => e.progress as number);
      expect([...values].sort((a, b) => a - b)).toEqual(values); // in order
    });
  });
});

describe('stored results and waitForResult()', () => {
  it('resolves with the return value, whether the wait starts before or after the job ran', async () => {
    const release = deferred();
    await worker('result-q', async (payload: { n: number }) => {
      await release.promise;
      return { url: `https://files.example/${payload.n}.csv`, rows: payload.n * 10 };
    });
    const id = await api.producer.enqueue('result-q', { n: 7 }, { track: { retention: 60_000 } });
    const early = api.producer.waitForResult('result-q', id, { timeout: 30_000 });
    await waitStarted('result-q');
    release.resolve();
    await expect(early).resolves.toEqual({ url: 'https://files.example/7.csv', rows: 70 });
    await expect(api.producer.waitForResult('result-q', id)).resolves.toEqual({ url: 'https://files.example/7.csv', rows: 70 });
    expect((await api.inspector.job('result-q', id))!.result).toEqual({ url: 'https://files.example/7.csv', rows: 70 });
  });

  it('many waits at once, on many jobs: each gets its own result', async () => {
    // Waits start while the jobs are ready (see the race below for waits that start as a job finishes).
    const admin = api.app.get(QueueAdmin);
    await admin.pause('many-results-q');
    await worker('many-results-q', async (payload: { n: number }) => payload.n * 2, { concurrency: 8 });
    const ids = await api.producer.enqueueMany('many-results-q', Array.from({ length: 200 }, (_, n) => ({ payload: { n }, options: { track: true } })));
    const results = Promise.all(ids.map((id) => api.producer.waitForResult<number>('many-results-q', id)));
    await waitStarted('many-results-q');
    await admin.resume('many-results-q');
    expect(await results).toEqual(Array.from({ length: 200 }, (_, n) => n * 2));
  });

  // BUG (engine, producer.ts waitForResult + inspector.ts job): waitForResult looks at the job through
  // job() once subscribed; job() reads the tracking entry, then the claim holding the record in a second
  // round trip, and returns undefined when the claim settled in between. waitForResult takes undefined
  // for "not tracked" and rejects with InvalidOptionError although the job completed. Found by the first
  // version of the test above (200 waits started while a worker ran the jobs: one of them rejected with
  // 'no tracked job "17"'). Reproduced here by holding the producer's second read until the job completed.
  it('a wait that starts just as the job completes resolves with its result', async () => {
    const release = deferred();
    await worker('race-result-q', async () => {
      await release.promise;
      return 'finished in between';
    });
    const own = await startQueueApp([], { prefix, consumers: false });
    apps.push(own);
    const id = await own.producer.enqueue('race-result-q', {}, { track: true });
    await waitFor(async () => (await own.inspector.job('race-result-q', id))?.state === 'active', 10_000, 'the job to run');
    const client = own.app.get(RedisQueueConnections).producer() as Redis;
    const claimsKey = queueKeys(prefix, 'race-result-q').claims;
    const hget = client.hget.bind(client) as (key: string, field: string) => Promise<string | null>;
    (client as unknown as { hget: typeof hget }).hget = async (key, field) => {
      if (key === claimsKey) {
        release.resolve();
        await waitFor(async () => JSON.parse((await raw.hget(queueKeys(prefix, 'race-result-q').track, id)) ?? '{}').s === 'completed', 10_000, 'completion');
      }
      return hget(key, field);
    };
    try {
      await expect(own.producer.waitForResult('race-result-q', id)).resolves.toBe('finished in between');
    } finally {
      release.resolve();
    }
  });

  it('a job that returns nothing resolves with undefined', async () => {
    await worker('void-q', async () => undefined);
    const id = await api.producer.enqueue('void-q', {}, { track: true });
    await finished('void-q', id);
    await expect(api.producer.waitForResult('void-q', id)).resolves.toBeUndefined();
    expect((await api.inspector.job('void-q', id))!.state).toBe('completed');
  });

  it('rejects with JobDeadLetteredError (carrying the error) for a dead job, tracked or not', async () => {
    const release = deferred();
    await worker('dead-result-q', async (payload: { why: string }) => {
      if (payload.why === 'oom') await release.promise;
      throw new Error(`renderer crashed: ${payload.why}`);
    });
    const tracked = await api.producer.enqueue('dead-result-q', { why: 'oom' }, { track: true, attempts: 1 });
    await waitFor(async () => (await api.inspector.job('dead-result-q', tracked))?.state === 'active', 10_000, 'the job to run');
    // Waiting while it runs; it dies.
    const waiting = api.producer.waitForResult('dead-result-q', tracked).then(
      () => undefined,
      (e: unknown) => e,
    );
    await waitStarted('dead-result-q');
    release.resolve();
    const error = await waiting;
    expect(error).toBeInstanceOf(JobDeadLetteredError);
    expect(error).toMatchObject({ queue: 'dead-result-q', jobId: tracked, reason: { name: 'Error', message: 'renderer crashed: oom' } });
    // Waiting once it is dead.
    await expect(api.producer.waitForResult('dead-result-q', tracked)).rejects.toThrow(/renderer crashed: oom/);

    const untracked = await api.producer.enqueue('dead-result-q', { why: 'segfault' }, { attempts: 1 });
    await waitFor(async () => (await api.inspector.job('dead-result-q', untracked))?.state === 'dead', 10_000, 'the untracked job to die');
    await expect(api.producer.waitForResult('dead-result-q', untracked)).rejects.toThrow(JobDeadLetteredError);
  });

  it('rejects with JobCancelledError when the job is cancelled while waited for', async () => {
    const id = await api.producer.enqueue('cancelled-result-q', {}, { track: true, delay: 3_600_000 });
    const waiting = api.producer.waitForResult('cancelled-result-q', id);
    await api.producer.cancel('cancelled-result-q', id);
    await expect(waiting).rejects.toThrow(JobCancelledError);
  });

  it('rejects with WaitTimeoutError when the job does not finish in time (and it may still finish later)', async () => {
    const id = await api.producer.enqueue('slow-result-q', {}, { track: true, delay: 3_600_000 });
    await expect(api.producer.waitForResult('slow-result-q', id, { timeout: 200 })).rejects.toThrow(WaitTimeoutError);
    expect((await api.inspector.job('slow-result-q', id))!.state).toBe('delayed');
  });

  it('an unknown or untracked job, and a bad timeout, are refused', async () => {
    await expect(api.producer.waitForResult('unknown-result-q', 'nope')).rejects.toThrow(InvalidOptionError);
    const id = await api.producer.enqueue('unknown-result-q', {});
    await expect(api.producer.waitForResult('unknown-result-q', id)).rejects.toThrow(/track/);
    await expect(api.producer.waitForResult('unknown-result-q', id, { timeout: 0 })).rejects.toThrow(/"timeout"/);
    await expect(api.producer.waitForResult('unknown-result-q', id, { timeout: -5 })).rejects.toThrow(InvalidOptionError);
  });

  it('results of untracked jobs are not stored', async () => {
    const ran = deferred();
    await worker('untracked-result-q', async () => {
      ran.resolve();
      return { secret: 'not kept' };
    });
    const id = await api.producer.enqueue('untracked-result-q', {});
    await ran.promise;
    await waitFor(async () => (await api.inspector.counts('untracked-result-q')).active === 0, 10_000, 'the ack');
    expect(await api.inspector.job('untracked-result-q', id)).toBeUndefined();
    expect(await raw.exists(queueKeys(prefix, 'untracked-result-q').track)).toBe(0);
  });

  it('the size cap (64 KiB of JSON): a result at the cap is kept, one byte over is not, and the job still completes', async () => {
    await worker('cap-q', async (payload: { chars: number }) => 'x'.repeat(payload.chars));
    const cap = 64 * 1024;
    const atCap = await api.producer.enqueue('cap-q', { chars: cap - 2 }, { track: true }); // + 2 quotes = cap
    const over = await api.producer.enqueue('cap-q', { chars: cap - 1 }, { track: true });
    await finished('cap-q', atCap);
    await finished('cap-q', over);
    expect(((await api.producer.waitForResult('cap-q', atCap)) as string).length).toBe(cap - 2);
    await expect(api.producer.waitForResult('cap-q', over)).resolves.toBeUndefined();
    const info = await api.inspector.job('cap-q', over);
    expect(info).toMatchObject({ state: 'completed' });
    expect(info!.result).toBeUndefined();
  });

  it('a result JSON cannot carry is not kept, and the job still completes', async () => {
    await worker('bigint-q', async () => ({ total: 10n }));
    const id = await api.producer.enqueue('bigint-q', {}, { track: true });
    await finished('bigint-q', id);
    await expect(api.producer.waitForResult('bigint-q', id)).resolves.toBeUndefined();
    expect((await api.inspector.job('bigint-q', id))!.state).toBe('completed');
  });

  it('a finished entry expires after its retention', async () => {
    await worker('retention-q', async () => 'short-lived');
    const id = await api.producer.enqueue('retention-q', {}, { track: { retention: 50 } });
    await finished('retention-q', id);
    await expect(api.producer.waitForResult('retention-q', id)).resolves.toBe('short-lived');
    // Expired entries are swept by a worker's next round trip (batched: up to 5 s after they are due).
    await api.producer.enqueue('retention-q', {});
    await waitFor(
      async () => {
        await api.producer.enqueue('retention-q', {});
        return (await api.inspector.job('retention-q', id)) === undefined;
      },
      20_000,
      'the entry to expire',
    );
  });
});
