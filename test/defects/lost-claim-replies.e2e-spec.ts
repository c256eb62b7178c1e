// Issue 11, defect 6: when claim replies never reach the worker (here a `client-output-buffer-limit`
// smaller than one reply: Redis drops the connection; also `maxmemory-clients` eviction, or a proxy that
// drops big replies), jobs were claimed, lost and recovered again and again: `attemptsMade` reached 7
// against a maximum of 3, and nothing was ever dead-lettered, because only the worker checked for used
// attempts, after receiving the record. Recovery in Redis must dead-letter what has used its attempts.
import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { bootApp, eventually, expectAtMost, mostAttemptsMade, payloadOf, RunLog, startOwnRedis, TestApp } from './support.js';

const log = new RunLog();

@Injectable()
class Handlers {
  @QueueHandler('huge', { attempts: 3 })
  async huge(_payload: unknown, job: JobContext) {
    await log.track(job, () => undefined);
  }

  @QueueHandler('batch', { concurrency: 100, attempts: 3 })
  async batch(_payload: unknown, job: JobContext) {
    await log.track(job, () => undefined);
  }
}

describe('claim replies that never reach the worker', () => {
  let server: RedisServer;
  let admin: Redis;
  let q: TestApp;

  /**
   * A normal client whose pending replies pass 64 KiB is disconnected at once (soft limit: 32 KiB for
   * 1 s). Lifted before the dead letters are read: they carry the records, and would not get through.
   */
  const limitReplies = () => admin.config('SET', 'client-output-buffer-limit', 'normal 64kb 32kb 1');
  const unlimitReplies = () => admin.config('SET', 'client-output-buffer-limit', 'normal 0 0 0');

  beforeAll(async () => {
    server = await startOwnRedis();
    admin = server.client();
    q = await bootApp([Handlers], { connection: server.url, leaseDuration: 500 });
  });
  beforeEach(() => limitReplies());
  afterEach(() => unlimitReplies());
  afterAll(async () => {
    await q.close();
    admin.disconnect();
    await server.stop();
  });

  it('dead-letters a job whose every delivery was lost once its attempts are used, never delivering it more often', async () => {
    // One record bigger than the limit: no claim of it can ever reach a worker.
    const id = await q.producer.enqueue('huge', payloadOf(100 * 1024));
    let most = -1; // the highest attempts-made count seen in the job's record while it was not dead
    await eventually(
      async () => {
        most = Math.max(most, await mostAttemptsMade(admin, q.prefix, 'huge'));
        return most > 3 || (await q.inspector.counts('huge')).dead === 1; // over: fail at once
      },
      30_000,
      'the job to be dead-lettered',
      async () => ({ counts: await q.inspector.counts('huge'), mostAttemptsMade: most, handlerRuns: log.runs.filter((r) => r.id === id).length }),
    );
    expectAtMost(most, 3, 'attempts made in the record of a job allowed 3');
    await unlimitReplies();
    const dead = await q.inspector.deadJob('huge', id);
    expect({ attemptsMade: dead?.attemptsMade, counts: await q.inspector.counts('huge') }).toEqual({
      attemptsMade: 3,
      counts: { ready: 0, delayed: 0, active: 0, dead: 1 },
    });
  });

  it('runs jobs claimed in a batch too big for the connection within their attempts', async () => {
    // 200 records of 10 KiB: a claim of 50 of them is a 500 KiB reply, far over the limit.
    const ids = await q.producer.enqueueMany('batch', Array.from({ length: 200 }, (_, n) => ({ payload: payloadOf(10 * 1024, { n }) })));
    let most = -1;
    await eventually(
      async () => {
        most = Math.max(most, await mostAttemptsMade(admin, q.prefix, 'batch'));
        const c = await q.inspector.counts('batch');
        return most > 3 || c.ready + c.delayed + c.active === 0; // over: fail at once
      },
      40_000,
      'every job to be completed or dead-lettered',
      async () => ({ counts: await q.inspector.counts('batch'), mostAttemptsMade: most, handlerRuns: log.runs.filter((r) => ids.includes(r.id)).length }),
    );
    expectAtMost(most, 3, 'attempts made in the record of a job allowed 3');
    await unlimitReplies();
    const dead = await q.inspector.deadJobs('batch', { limit: 1000 });
    const overused = [
      ...log.runs.filter((r) => ids.includes(r.id) && r.attempt > r.maxAttempts).map((r) => `ran ${r.id} as attempt ${r.attempt}/${r.maxAttempts}`),
      ...dead.filter((d) => d.attemptsMade > 3).map((d) => `dead ${d.id} with ${d.attemptsMade} attempts made`),
    ];
    expect(overused).toEqual([]);
    const completed = ids.filter((id) => log.completions(id).length > 0);
    expect(completed.length + dead.length).toBe(200);
  });
});
