// Issue 11, defect 9: when the key holding the lease deadlines disappeared (a DEL, an eviction), the
// running jobs were aborted with "lost the lease ... another delivery owns it now" (untrue) and their
// claims stayed `active` for good: recovery looked only at the lease set. Claims without a deadline must
// be kept alive by their live worker, or recovered when their worker is gone.
import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import { ChildScript } from '../support/child.js';
import { bootApp, deferred, eventually, rawClient, redisUrl, RunLog, sleep, uniquePrefix } from './support.js';

const LEASE_MS = 1000;
const log = new RunLog(); // queue "kept"
const orphanLog = new RunLog(); // queue "crash"
const release = deferred();

@Injectable()
class Handlers {
  // Runs until the test lets it finish (or its signal aborts it, as a well-behaved handler does).
  @QueueHandler('kept', { concurrency: 4 })
  async kept(_payload: unknown, job: JobContext) {
    await log.track(job, () => Promise.race([release.promise, new Promise<void>((resolve) => job.signal.addEventListener('abort', () => resolve()))]));
  }

  // The queue of test/fixtures/worker-process.ts, whose worker this test kills with jobs claimed.
  @QueueHandler('crash', { concurrency: 4 })
  async orphaned(_payload: unknown, job: JobContext) {
    await orphanLog.track(job, () => undefined);
  }
}

/**
 * Deletes every key of the queue that holds claim deadlines: `lease` (release 0.1) and `deadlines`
 * (0.2), as docs/data-model.md names them.
 */
async function deleteLeaseKeys(redis: Redis, prefix: string, queue: string): Promise<number> {
  return redis.del(`${prefix}:{${queue}}:lease`, `${prefix}:{${queue}}:deadlines`);
}

describe('claims whose lease deadlines were deleted', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = rawClient();
  });
  afterAll(() => redis.disconnect());

  it('are kept alive by their live worker: no false "another delivery owns it" abort, and the jobs complete', async () => {
    const q = await bootApp([Handlers], { leaseDuration: LEASE_MS });
    try {
      const ids = await q.producer.enqueueMany('kept', [1, 2, 3, 4].map((n) => ({ payload: { n } })));
      await eventually(() => ids.every((id) => log.runs.some((r) => r.id === id)), 10_000, 'the 4 jobs to start');
      expect(await deleteLeaseKeys(redis, q.prefix, 'kept')).toBe(1);
      const from = q.logger.lines.length;
      // Renewal (every third of the lease) finds the deadlines gone: it either puts them back or aborts.
      await eventually(
        async () => (await redis.exists(`${q.prefix}:{kept}:lease`, `${q.prefix}:{kept}:deadlines`)) > 0 || log.runs.some((r) => r.aborted),
        10_000,
        'a renewal to put the deadlines back (or to abort the jobs)',
      );
      await sleep(LEASE_MS); // a lease's time more, for a late abort to show (it cannot fail a correct worker)
      release.resolve();
      await eventually(
        async () => (await q.inspector.counts('kept')).active === 0,
        15_000,
        'the claims to settle',
        async () => ({ counts: await q.inspector.counts('kept'), runs: log.runs.filter((r) => ids.includes(r.id)) }),
      );
      const runs = log.runs.filter((r) => ids.includes(r.id));
      // Aborted as lost only if another delivery of the job really ran.
      const falseAborts = runs.filter((r) => r.abortReason === 'LeaseLostError' && runs.filter((o) => o.id === r.id).length === 1);
      expect({
        falseAborts: falseAborts.map((r) => r.id),
        completed: ids.filter((id) => log.completions(id).length > 0),
        counts: await q.inspector.counts('kept'),
        ownerLines: q.logger.matching(/another delivery owns/i, from),
      }).toEqual({ falseAborts: [], completed: ids, counts: { ready: 0, delayed: 0, active: 0, dead: 0 }, ownerLines: [] });
    } finally {
      release.resolve();
      await q.close();
    }
  }, 60_000);

  it('are recovered when their worker is gone', async () => {
    const prefix = uniquePrefix('orphan');
    const doomed = ChildScript.start('test/fixtures/worker-process.ts', { REDIS_URL: redisUrl(), RQ_PREFIX: prefix, RQ_LEASE_MS: String(LEASE_MS) });
    const producer = await bootApp([], { prefix, consumers: false });
    let survivor: Awaited<ReturnType<typeof bootApp>> | undefined;
    try {
      await doomed.waitForLine(/^ready$/);
      const ids = await producer.producer.enqueueMany('crash', [1, 2, 3, 4].map((n) => ({ payload: { n } })));
      await eventually(() => doomed.lines.filter((l) => l.startsWith('started crash')).length === 4, 10_000, 'the doomed worker to claim 4 jobs');
      // The worker dies with its jobs claimed, and the deadlines of its claims are gone too.
      await doomed.kill('SIGKILL');
      expect(await deleteLeaseKeys(redis, prefix, 'crash')).toBe(1);

      survivor = await bootApp([Handlers], { prefix, leaseDuration: LEASE_MS });
      await eventually(
        async () => ids.every((id) => orphanLog.completions(id).length > 0) && (await survivor!.inspector.counts('crash')).active === 0,
        30_000,
        'the orphaned jobs to run on the surviving worker',
        async () => ({ counts: await survivor!.inspector.counts('crash'), completed: ids.filter((id) => orphanLog.completions(id).length > 0) }),
      );
      expect(await survivor.inspector.counts('crash')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
    } finally {
      await doomed.kill('SIGKILL');
      await survivor?.close();
      await producer.close();
    }
  }, 60_000);
});
