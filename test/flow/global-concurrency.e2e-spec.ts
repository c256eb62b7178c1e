import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { waitFor } from '../support/helpers.js';
import { QueueApp } from '../support/queue-app.js';
import { flowSuite } from './support/flow-suite.js';
import { FlowWorkers } from './support/flow-workers.js';

// Worker processes on a loaded machine: a generous guard against hanging (tests wait for conditions).
jest.setTimeout(180_000);

// Every handler counts itself in a gauge in Redis at start and out at its end (test/fixtures/flow-worker.ts),
// and reads the sum over the live processes at start. A handler runs between its claim and its settle, so
// the gauge can only be below what the engine holds, never above: a start seeing more than the limit is a
// start the engine should not have allowed. No clocks are compared.
describe('global concurrency across processes', () => {
  const limit = 4;
  let q: QueueApp;
  let redis: Redis;
  let workers: FlowWorkers | undefined;

  flowSuite('flow-gconc', (suite) => ({ q, redis } = suite));

  it('never runs more than globalConcurrency jobs at once across 3 processes, and reaches it', async () => {
    const queue = 'steady';
    workers = await new FlowWorkers({ queue, prefix: q.prefix, processes: 3, concurrency: 3, handler: { globalConcurrency: limit } }).start();
    const go = `${workers.gauge}:go`;
    // First `limit` jobs that wait: the limit is reached (a condition, not a timing), and the rest wait.
    const held = await q.producer.enqueueMany(queue, Array.from({ length: limit }, () => ({ payload: { hold: go } })));
    const quick = await q.producer.enqueueMany(queue, Array.from({ length: 300 }, (_, n) => ({ payload: { n, ms: 3 } })));
    await workers.waitForStarts(limit);
    await waitFor(async () => [...(await workers!.running(redis)).values()].reduce((a, b) => a + b, 0) === limit, 30_000, 'the limit to be reached');
    await redis.set(go, '1');
    await workers.waitForEnds([...held, ...quick], 120_000);

    const starts = workers.starts();
    const most = Math.max(...starts.map((s) => s.running));
    process.stdout.write(`global concurrency ${limit}, 3 processes x 3 slots, ${starts.length} jobs: most running at once ${most}\n`);
    expect(most).toBe(limit);
    expect(starts.filter((s) => s.running > limit)).toEqual([]);
  });

  it('after a SIGKILL the dead process keeps its slots until its lease expires, then they come back', async () => {
    const queue = 'killed';
    workers = await new FlowWorkers({
      queue,
      prefix: q.prefix,
      processes: 3,
      concurrency: 3,
      leaseMs: 1500,
      handler: { globalConcurrency: limit },
    }).start();
    const go = `${workers.gauge}:go`;
    const held = await q.producer.enqueueMany(queue, Array.from({ length: limit }, () => ({ payload: { hold: go } })));
    const quick = await q.producer.enqueueMany(queue, Array.from({ length: 60 }, (_, n) => ({ payload: { n, ms: 5 } })));
    await workers.waitForStarts(limit);

    // Kill the process that holds the most of the held jobs; the others keep theirs until "go".
    const running = await workers.running(redis);
    const victim = [...running.entries()].sort((a, b) => b[1] - a[1])[0][0];
    const lost = running.get(victim)!;
    const lostIds = new Set(workers.starts().filter((s) => s.worker === victim).map((s) => s.id));
    expect(lostIds.size).toBe(lost);
    await workers.kill(victim, redis);
    const killedAt = Math.max(...workers.starts().map((s) => s.seq));
    await redis.set(go, '1');
    await workers.waitForEnds([...held, ...quick], 120_000);

    // In the order the gauge was read (one counter in Redis for every process).
    const after = workers
      .starts()
      .filter((s) => s.seq > killedAt && s.worker !== victim)
      .sort((a, b) => a.seq - b.seq);
    const firstRedelivery = after.findIndex((s) => lostIds.has(s.id));
    expect(firstRedelivery).toBeGreaterThanOrEqual(0);
    // Until the dead process's jobs run again, their slots stay taken: the live processes never run more
    // than limit - lost at once. (Recovered jobs are handed out before any other, so from the recovery on
    // their new deliveries hold those slots until they finish.)
    const whileLeased = after.slice(0, firstRedelivery);
    const afterRecovery = after.slice(firstRedelivery);
    process.stdout.write(
      `global concurrency ${limit} after SIGKILL of a process holding ${lost}: most running before its lease expired ` +
        `${Math.max(0, ...whileLeased.map((s) => s.running))} (<= ${limit - lost}), after ${Math.max(...afterRecovery.map((s) => s.running))}\n`,
    );
    expect(whileLeased.filter((s) => s.running > limit - lost)).toEqual([]);
    expect(afterRecovery.filter((s) => s.running > limit)).toEqual([]);

    // The slots came back: `limit` jobs run at once again, all in the live processes.
    const go2 = `${workers.gauge}:go2`;
    const again = await q.producer.enqueueMany(queue, Array.from({ length: limit + 2 }, () => ({ payload: { hold: go2 } })));
    await waitFor(async () => {
      const now = await workers!.running(redis);
      now.delete(victim);
      return [...now.values()].reduce((a, b) => a + b, 0) === limit;
    }, 30_000, 'the live processes to run `limit` jobs at once');
    await redis.set(go2, '1');
    await workers.waitForEnds(again);
    expect(workers.starts().filter((s) => s.worker !== victim && s.running > limit)).toEqual([]);
  });
});
