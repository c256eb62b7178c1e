// Issue 11, defect 8: one handler blocking the event loop longer than the lease took its whole claim
// down. The jobs claimed with it were started after their lease had already expired, ran twice at the
// same time in the same process, and each lost delivery burned an attempt as if the job had crashed its
// worker. A worker must not start a job whose lease it knows is gone, and a delivery lost only because a
// claim-mate stalled must not cost the job an attempt.
import { Injectable } from '@nestjs/common';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import { blockCpu, bootApp, eventually, RunLog, sleep, uniquePrefix } from './support.js';

const LEASE_MS = 1000;
const log = new RunLog();

@Injectable()
class Handlers {
  // Room for the whole batch in one claim: the stalling job and its claim-mates are delivered together.
  @QueueHandler('stall', { concurrency: 8, attempts: 3, backoff: { type: 'fixed', delay: 100, jitter: 0 } })
  async run(payload: { kind: 'cpu' | 'quick' }, job: JobContext) {
    await log.track(job, async () => {
      if (payload.kind === 'cpu') blockCpu(2.5 * LEASE_MS); // synchronous work: no renewal can run meanwhile
      else await sleep(50);
    });
  }
}

describe('a handler that blocks the event loop longer than the lease', () => {
  it('does not make the jobs claimed with it run twice at once, start without a lease, or lose attempts', async () => {
    const prefix = uniquePrefix('stall');
    // Stored before any worker runs, so that the first claim takes all four together, the CPU job first.
    const producer = await bootApp([], { prefix, consumers: false });
    const [cpu, ...quick] = await producer.producer.enqueueMany('stall', [
      { payload: { kind: 'cpu' } },
      { payload: { kind: 'quick' } },
      { payload: { kind: 'quick' } },
      { payload: { kind: 'quick' } },
    ]);
    const worker = await bootApp([Handlers], { prefix, leaseDuration: LEASE_MS });
    try {
      await eventually(
        async () => quick.every((id) => log.completions(id).length > 0) && (await worker.inspector.counts('stall')).active === 0,
        30_000,
        'the claim-mates to complete and every claim to settle',
        async () => ({ counts: await worker.inspector.counts('stall'), runs: log.runs }),
      );
      const dead = (await worker.inspector.deadJobs('stall')).map((d) => d.id);
      expect({
        // Never two copies of one job at once in this process.
        overlaps: log.overlaps,
        // Each claim-mate ran once: a start after its lease was gone would have been followed by a second
        // delivery (the worker recovering the claim it had itself let expire).
        ranMoreThanOnce: log.ranMoreThanOnce(quick),
        // ...on its first attempt: the stall of another job cost it nothing.
        attempts: quick.map((id) => log.completions(id).map((r) => r.attempt)),
        deadClaimMates: quick.filter((id) => dead.includes(id)),
      }).toEqual({ overlaps: [], ranMoreThanOnce: [], attempts: [[1], [1], [1]], deadClaimMates: [] });
      // The CPU job itself may run again: the README says a handler blocking the loop past its lease
      // loses it. Only its claim-mates are protected here.
      expect(log.runs.some((r) => r.id === cpu)).toBe(true);
    } finally {
      await worker.close();
      await producer.close();
    }
  }, 60_000);
});
