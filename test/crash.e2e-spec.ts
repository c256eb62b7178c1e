import { Injectable } from '@nestjs/common';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import { ChildScript } from './support/child.js';
import { redisUrl, uniquePrefix, waitFor } from './support/helpers.js';
import { startQueueApp } from './support/queue-app.js';

const completed: Array<{ id: string; attempt: number; at: number }> = [];

@Injectable()
class Survivor {
  @QueueHandler('crash')
  async crash(_payload: unknown, job: JobContext) {
    completed.push({ id: job.id, attempt: job.attempt, at: Date.now() });
  }
}

describe('worker crash', () => {
  it('a job whose worker was SIGKILLed mid-job is completed by another worker after the lease expires', async () => {
    const prefix = uniquePrefix('crash');
    const child = ChildScript.start('test/fixtures/worker-process.ts', {
      REDIS_URL: redisUrl(),
      RQ_PREFIX: prefix,
      RQ_LEASE_MS: '1000',
    });
    try {
      await child.waitForLine(/^ready$/);
      const q = await startQueueApp([], { prefix, consumers: false });
      const id = await q.producer.enqueue('crash', { step: 'charge card' });
      const line = await child.waitForLine(/^started crash/);
      expect(line).toBe(`started crash ${id} 1`);
      await child.kill('SIGKILL');
      const killedAt = Date.now();
      expect((await q.inspector.counts('crash')).active).toBe(1); // still leased to the dead worker

      const survivor = await startQueueApp([Survivor], { prefix, leaseDuration: 1000 });
      await waitFor(() => completed.length === 1, 10_000, 'the survivor to complete the job');
      expect(completed[0].id).toBe(id);
      expect(completed[0].attempt).toBe(2); // the lost delivery counts as an attempt
      // Not before the dead worker's lease could have expired (1 s lease, renewed every ~333 ms).
      expect(completed[0].at - killedAt).toBeGreaterThanOrEqual(500);
      await waitFor(async () => (await survivor.inspector.counts('crash')).active === 0, 5000, 'the ack');
      expect(await survivor.inspector.counts('crash')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
      await survivor.close();
      await q.close();
    } finally {
      await child.kill('SIGKILL');
    }
  });
});
