// A worker whose machine clock is minutes off still wakes for a delayed job when it is due: the wake-up
// message carries the due time on Redis's clock, and the worker converts it with its offset from Redis (learned
// on every claim round trip), not with its own clock. Each worker runs alone on its own queue (an app instance
// in its own process, test/fixtures/schedule-worker.ts, with CHAOS_SKEW_MS), idle when the job is stored, so
// the wake-up message is the only thing that can start it. Before this was fixed, a worker behind Redis slept
// for its skew on top of the delay, and one ahead ignored the message as past; both woke only on a timer of
// their lease.
import { closeClient, consoleLogger, createClient, JobProducer, QueueInspector, RedisClient } from '../../libs/redis-queue/src/engine/index.js';
import { ChildScript } from '../support/child.js';
import { redisUrl, uniquePrefix, waitFor } from '../support/helpers.js';

/** Processes start slowly on a busy machine. */
const SLOW = 120_000;
/** Far more than the delay, far less than the skew: a worker misled by its clock would not make it. */
const RUNS_WITHIN = 60_000;
const FIVE_MINUTES = 5 * 60_000;

describe('delayed jobs on a worker whose clock is off', () => {
  let client: RedisClient;
  const children: ChildScript[] = [];

  beforeAll(() => {
    client = createClient(redisUrl(), { role: 'producer', name: 'skewed-wakeups', commandTimeout: 5000, logger: consoleLogger });
  });

  afterAll(async () => {
    await Promise.all(children.map((child) => child.kill('SIGTERM')));
    await closeClient(client);
  });

  it.each([
    ['behind', -FIVE_MINUTES],
    ['ahead', FIVE_MINUTES],
  ])(
    'a worker %s by five minutes wakes for a delayed job when it is due, not before',
    async (_label, skew) => {
      const prefix = uniquePrefix('skew');
      const jobs = new JobProducer({ client, prefix });
      const child = ChildScript.start('test/fixtures/schedule-worker.ts', {
        REDIS_URL: redisUrl(),
        RQ_PREFIX: prefix,
        // Leases far longer than the wait below: the worker's own lease and sweep timers cannot wake it.
        RQ_LEASE_MS: String(10 * 60_000),
        CHAOS_SKEW_MS: String(skew),
        NO_COLOR: '1',
      });
      children.push(child);
      await child.waitForLine(/^ready$/, 60_000);
      // One job first: once it ran and its settle went out, the worker is idle, with nothing planned.
      const first = await jobs.enqueue('tick', { n: 1 });
      await child.waitForLine(new RegExp(`^ran ${first} `), 60_000);
      const inspector = new QueueInspector(client, prefix);
      await waitFor(async () => {
        const counts = await inspector.counts('tick');
        return counts.ready + counts.active === 0;
      }, 30_000, 'the first job settled');

      const storedAt = Date.now();
      const delayed = await jobs.enqueue('tick', { n: 2 }, { delay: 1500 });
      const line = await child.waitForLine(new RegExp(`^ran ${delayed} `), RUNS_WITHIN);
      const startedAt = Number(line.split(' ')[3]);
      expect(startedAt).toBeGreaterThanOrEqual(storedAt + 1500 - 5);
    },
    SLOW,
  );
});
