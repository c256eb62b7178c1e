// Issue 11, defect 4: over `maxmemory` with `noeviction` (the setting the README prescribes), Redis
// refuses a script whose first write may allocate. No script was allowed to run out of memory, so on a
// Redis filled by the queue itself the workers could not settle, renew, promote or recover anything: the
// queue never drained, and `enqueue` rejected with a raw ioredis ReplyError. Settling, renewing and
// recovering free memory or hold it constant and must keep working; only enqueue may be refused.
import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { JobContext, PermanentJobError, QueueHandler } from 'nestjs-redis-queue';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { ChildScript } from '../support/child.js';
import {
  bootApp,
  eventually,
  expectQueueError,
  payloadOf,
  rejectionOf,
  RunLog,
  sleep,
  startOwnRedis,
  TestApp,
  uniquePrefix,
  usedMemory,
  waitFor,
} from './support.js';

/** Long enough that a loaded machine's event-loop lag does not lose a lease; short enough for a quick test. */
const LEASE_MS = 2000;
type Kind = 'plain' | 'delayed' | 'flaky' | 'poison' | 'long';
const log = new RunLog(); // queue "full"
const crashLog = new RunLog(); // queue "crash"

@Injectable()
class Handlers {
  @QueueHandler('full', { concurrency: 20, attempts: 3, backoff: { type: 'fixed', delay: 200, jitter: 0 } })
  async run(payload: { kind: Kind }, job: JobContext) {
    await log.track(job, async () => {
      if (payload.kind === 'poison') throw new PermanentJobError('poison: dead-lettered on a full Redis');
      if (payload.kind === 'flaky' && job.attempt === 1) throw new Error('flaky: retried on a full Redis');
      // Longer than its lease: it finishes on its first delivery only if renewals work while Redis is full.
      if (payload.kind === 'long') await sleep(2.5 * LEASE_MS);
    });
  }

  // The queue of test/fixtures/worker-process.ts, whose worker this test kills with jobs claimed.
  @QueueHandler('crash', { concurrency: 4 })
  async recover(_payload: unknown, job: JobContext) {
    await crashLog.track(job, () => undefined);
  }
}

/** How many jobs of each kind the queue holds when Redis fills up (about 2.5 MB of records). */
const MIX: Record<Kind, number> = { plain: 2000, delayed: 200, flaky: 100, poison: 20, long: 4 };

describe('a Redis that the queue itself filled (maxmemory, noeviction)', () => {
  let server: RedisServer;
  let admin: Redis;

  beforeAll(async () => {
    server = await startOwnRedis();
    admin = server.client();
  });
  afterEach(async () => {
    await admin.config('SET', 'maxmemory', '0');
    await admin.flushall();
  });
  afterAll(async () => {
    admin.disconnect();
    await server.stop();
  });

  /** Stores the mix through `q`, then lowers maxmemory below what Redis holds by half the queue's data. */
  async function fillThenShrink(q: TestApp): Promise<Map<string, Kind>> {
    const empty = await usedMemory(admin);
    const kinds = new Map<string, Kind>();
    // Long jobs first, so that they are claimed among the first and run while Redis is full.
    for (const kind of ['long', 'poison', 'flaky', 'plain', 'delayed'] as Kind[]) {
      const items = Array.from({ length: MIX[kind] }, () => ({
        payload: payloadOf(1000, { kind }),
        options: kind === 'delayed' ? { delay: 1500 } : {},
      }));
      const ids = await q.producer.enqueueMany('full', items);
      for (const id of ids) kinds.set(id, kind);
    }
    const full = await usedMemory(admin);
    await admin.config('SET', 'maxmemory', String(Math.floor(empty + (full - empty) / 2)));
    // Precondition: Redis now refuses writes that allocate.
    await expect(admin.set(`${q.prefix}:probe`, 'x')).rejects.toThrow(/OOM/);
    return kinds;
  }

  it('rejects enqueue with a RedisQueueError that says Redis is out of memory, and stores nothing', async () => {
    const q = await bootApp([], { connection: server.url, consumers: false });
    try {
      await fillThenShrink(q);
      const before = await q.inspector.counts('full');
      const error = await rejectionOf(q.producer.enqueue('full', { kind: 'plain' }));
      expectQueueError(error, /memory/i);
      expect(await q.inspector.counts('full')).toEqual(before);
    } finally {
      await q.close();
    }
  });

  it('drains by itself: settles, retries, dead letters, renewals, promotion and recovery all work while it is full', async () => {
    const prefix = uniquePrefix('full');
    // A worker in its own process claims four jobs, then dies with them (SIGKILL): their claims must be
    // recovered while Redis is full.
    const doomed = ChildScript.start('test/fixtures/worker-process.ts', { REDIS_URL: server.url, RQ_PREFIX: prefix, RQ_LEASE_MS: String(LEASE_MS) });
    const producer = await bootApp([], { connection: server.url, prefix, consumers: false });
    let worker: TestApp | undefined;
    try {
      await doomed.waitForLine(/^ready$/);
      const crashIds = await producer.producer.enqueueMany('crash', [1, 2, 3, 4].map((n) => ({ payload: { n } })));
      await waitFor(() => doomed.lines.filter((l) => l.startsWith('started crash')).length === 4, 10_000, 'the doomed worker to claim 4 jobs');
      await doomed.kill('SIGKILL');

      const kinds = await fillThenShrink(producer);
      worker = await bootApp([Handlers], { connection: server.url, prefix, leaseDuration: LEASE_MS });
      const counts = async () => ({ full: await worker!.inspector.counts('full'), crash: await worker!.inspector.counts('crash'), handlerRuns: log.runs.length + crashLog.runs.length });
      await eventually(
        async () => {
          const { full, crash } = await counts();
          return full.ready + full.delayed + full.active === 0 && full.dead === MIX.poison && crash.ready + crash.active === 0;
        },
        30_000,
        'both queues to drain while Redis stays over maxmemory',
        counts,
      );

      // Every job ended as planned, each on the delivery it should have.
      const summary = { completedOnce: 0, problems: [] as string[] };
      for (const [id, kind] of kinds) {
        const done = log.completions(id);
        const runs = log.runs.filter((r) => r.id === id);
        if (kind === 'poison') {
          if (done.length > 0 || runs.length !== 1) summary.problems.push(`${kind} ${id}: ${runs.length} run(s), ${done.length} completed`);
        } else if (done.length !== 1 || done[0].attempt !== (kind === 'flaky' ? 2 : 1)) {
          summary.problems.push(`${kind} ${id}: completed ${done.length} time(s), on attempt(s) ${done.map((d) => d.attempt).join(',') || '-'}`);
        } else summary.completedOnce++;
      }
      for (const id of crashIds) {
        const done = crashLog.completions(id);
        if (done.length !== 1) summary.problems.push(`crash ${id}: completed ${done.length} time(s)`);
      }
      expect(summary).toEqual({ completedOnce: kinds.size - MIX.poison, problems: [] });
      expect(log.runs.filter((r) => r.abortReason === 'LeaseLostError')).toEqual([]);
      expect((await worker.inspector.deadJobs('full', { limit: 1000 })).map((d) => d.error.name)).toEqual(
        Array.from({ length: MIX.poison }, () => 'PermanentJobError'),
      );

      // An outage is logged once, not once per round trip.
      expect(worker.logger.matching(/OOM|maxmemory|out of memory/i).length).toBeLessThanOrEqual(2);
      // And with the queue's own data gone, Redis takes new jobs again.
      await waitFor(() => rejectionOf(producer.producer.enqueue('full', { kind: 'plain' })).then((e) => e === undefined), 10_000, 'enqueue to work again');
    } finally {
      await doomed.kill('SIGKILL');
      await admin.config('SET', 'maxmemory', '0'); // lets a stuck worker shut down
      await worker?.close();
      await producer.close();
    }
  }, 90_000);
});
