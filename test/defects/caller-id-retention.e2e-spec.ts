// Issue 11, defect 5: caller-chosen ids whose retention (`jobIdRetention`) had passed were freed only
// inside claim calls, at most 100 per call, and never while the queue was idle, so they piled up in Redis
// (3 bursts of 100,000 left 259,600 expired ids, 46.6 MB, unchanged after 30 s idle).
import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import { bootApp, eventually, rawClient, TestApp } from './support.js';

const RETENTION_MS = 1000;
const JOBS = 3000; // many times the 100 ids one claim call used to free
let handled = 0;

@Injectable()
class Handlers {
  @QueueHandler('ids', { concurrency: 50 })
  async run(_payload: unknown, _job: JobContext) {
    handled++;
  }
}

describe('caller-chosen ids after their retention', () => {
  let q: TestApp;
  let redis: Redis;
  beforeAll(async () => {
    q = await bootApp([Handlers], { jobIdRetention: RETENTION_MS });
    redis = rawClient();
  });
  afterAll(async () => {
    redis.disconnect();
    await q.close();
  });

  /**
   * Ids the queue still holds for completed jobs: the `ids` set (taken ids) and the `retained-ids` sorted
   * set (completed ones, by when they are free), the two structures README.md and docs/data-model.md name.
   */
  const idsLeft = async () => {
    const [taken, retained] = await Promise.all([redis.scard(`${q.prefix}:{ids}:ids`), redis.zcard(`${q.prefix}:{ids}:retained-ids`)]);
    return { taken, retained };
  };

  it('are freed while the queue is idle, all of them, without any new traffic', async () => {
    await q.producer.enqueueMany(
      'ids',
      Array.from({ length: JOBS }, (_, i) => ({ payload: { i }, options: { jobId: `order-${i}` } })),
    );
    await eventually(async () => handled === JOBS && (await q.inspector.counts('ids')).active === 0, 30_000, 'every job to run', () => handled);

    // No enqueue, no job from here on: the queue is idle while the retention passes.
    await eventually(
      async () => {
        const { taken, retained } = await idsLeft();
        return taken + retained === 0;
      },
      20_000,
      `the ${JOBS} expired ids to be freed`,
      idsLeft,
    );
  });
});
