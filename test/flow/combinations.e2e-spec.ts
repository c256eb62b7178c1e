import { jest } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Redis } from 'ioredis';
import { QueueAdmin } from 'nestjs-redis-queue';
import { waitFor } from '../support/helpers.js';
import { QueueApp } from '../support/queue-app.js';
import { flowSuite } from './support/flow-suite.js';
import { busiestWindow, FlowWorkers } from './support/flow-workers.js';

// Worker processes on a loaded machine: a generous guard against hanging (tests wait for conditions).
jest.setTimeout(180_000);

const bulk = (n: number, options: object | undefined, payload: object = {}) =>
  Array.from({ length: n }, (_, i) => ({ payload: { i, ...payload }, options }));

describe('flow control combined with delays, retries, cancel, pause and leases (worker processes)', () => {
  let q: QueueApp;
  let admin: QueueAdmin;
  let redis: Redis;
  let workers: FlowWorkers | undefined;

  flowSuite('flow-combo', (suite) => ({ q, admin, redis } = suite));

  const key = (queue: string, name: string) => `${q.prefix}:{${queue}}:${name}`;

  describe('delays', () => {
    it('a delayed job of priority 1 runs, once due, before the jobs of priority 5 that waited', async () => {
      const queue = 'delay-prio';
      workers = await new FlowWorkers({ queue, prefix: q.prefix, processes: 2, concurrency: 2 }).start();
      const go = `${workers.gauge}:go`;
      const held = await q.producer.enqueueMany(queue, bulk(20, { priority: 5 }, { hold: go }));
      const late = await q.producer.enqueue(queue, {}, { priority: 1, delay: 300, track: true });
      await workers.waitForStarts(4);
      await waitFor(async () => (await q.inspector.job(queue, late))?.state === 'ready', 30_000, 'the delayed job to be due');
      await redis.set(go, '1');
      await workers.waitForEnds([late, ...held]);
      const claimed = workers.inClaimOrder();
      // The 4 jobs that held the slots, then the urgent one, then the other 16.
      expect(claimed.findIndex((s) => s.id === late)).toBe(4);
      // Never early (Redis's clock; a lower bound, not a speed).
      const start = claimed.find((s) => s.id === late)!;
      const info = await q.inspector.job(queue, late);
      expect(start.at - info!.enqueuedAt.getTime()).toBeGreaterThanOrEqual(300 - 2);
    });
  });

  describe('cancel (tracked jobs)', () => {
    it('a cancelled ready job of a group never starts and does not keep a slot of its group', async () => {
      const queue = 'cancel-group';
      workers = await new FlowWorkers({ queue, prefix: q.prefix, processes: 2, concurrency: 2, handler: { groupConcurrency: 1 } }).start();
      await admin.pause(queue);
      const [first, ...rest] = await q.producer.enqueueMany(queue, bulk(5, { group: 'acme', track: true }));
      expect(await q.producer.cancel(queue, first)).toMatchObject({ outcome: 'removed' });
      await admin.resume(queue);
      await workers.waitForEnds(rest);
      expect(workers.starts().map((s) => s.id)).not.toContain(first);
      expect(workers.starts().filter((s) => s.groupRunning > 1)).toEqual([]);
      expect((await q.inspector.job(queue, first))?.state).toBe('cancelled');
    });

    it('cancelling a running job frees its globalConcurrency slot', async () => {
      const queue = 'cancel-gconc';
      workers = await new FlowWorkers({ queue, prefix: q.prefix, processes: 2, concurrency: 2, handler: { globalConcurrency: 1 } }).start();
      // "hold" on a key nobody sets: the first job runs until its signal aborts.
      const stuck = await q.producer.enqueue(queue, { hold: `${workers.gauge}:never` }, { track: true });
      const next = await q.producer.enqueueMany(queue, bulk(3, { track: true }));
      await workers.waitForStarts(1);
      await q.producer.cancel(queue, stuck);
      await workers.waitForEnds(next);
      expect(workers.starts().filter((s) => s.running > 1)).toEqual([]);
      expect((await q.inspector.job(queue, stuck))?.state).toBe('cancelled');
    });

    it('a cancelled ready job does not use a start of the rate limit', async () => {
      const queue = 'cancel-rate';
      workers = await new FlowWorkers({
        queue,
        prefix: q.prefix,
        processes: 2,
        concurrency: 2,
        handler: { rateLimit: { max: 2, duration: 600_000 } },
      }).start();
      await admin.pause(queue);
      const [first, ...rest] = await q.producer.enqueueMany(queue, bulk(3, { track: true }));
      await q.producer.cancel(queue, first);
      await admin.resume(queue);
      // Two starts in a 10-minute window: both go to the jobs that were not cancelled.
      await workers.waitForEnds(rest);
      expect(workers.starts().map((s) => s.id).sort()).toEqual([...rest].sort());
    });
  });

  describe('pause', () => {
    it('a paused queue starts nothing, even as limited slots free up; resumed, the limits still hold', async () => {
      const queue = 'pause-gconc';
      workers = await new FlowWorkers({ queue, prefix: q.prefix, processes: 3, concurrency: 2, handler: { globalConcurrency: 2 } }).start();
      const go = `${workers.gauge}:go`;
      const held = await q.producer.enqueueMany(queue, bulk(2, undefined, { hold: go }));
      const waiting = await q.producer.enqueueMany(queue, bulk(20, undefined, { ms: 2 }));
      await workers.waitForStarts(2);
      await admin.pause(queue);
      await redis.set(go, '1');
      await workers.waitForEnds(held);
      // The acks of the held jobs travel in claim calls that ask for more jobs: paused, they get none.
      await waitFor(async () => (await q.inspector.counts(queue)).active === 0, 30_000, 'the held jobs to be acknowledged');
      expect(await q.inspector.counts(queue)).toMatchObject({ ready: 20, active: 0 });
      expect(workers.starts()).toHaveLength(2);
      await admin.resume(queue);
      await workers.waitForEnds(waiting);
      expect(workers.starts().filter((s) => s.running > 2)).toEqual([]);
    });
  });

  describe('leases: limited or grouped jobs recovered after a crash keep their place in the rules', () => {
    it('a recovered job of a rate-limited queue waits for the window, like any start', async () => {
      const queue = 'lease-rate';
      const duration = 4000;
      workers = await new FlowWorkers({
        queue,
        prefix: q.prefix,
        processes: 3,
        concurrency: 2,
        leaseMs: 1000,
        handler: { rateLimit: { max: 2, duration } },
      }).start();
      const go = `${workers.gauge}:go`;
      const ids = await q.producer.enqueueMany(queue, bulk(2, undefined, { hold: go }));
      await workers.waitForStarts(2);
      const killed = await workers.killHolders(ids, redis);
      await redis.set(go, '1');
      await workers.waitForEnds(ids);
      const starts = workers.starts();
      expect(starts.filter((s) => !killed.includes(s.worker))).toHaveLength(2);
      // The dead processes' two starts and the two redeliveries: never more than 2 in a window (Redis clock).
      const atClaim = starts.map((s) => s.claimAt);
      expect(atClaim).toHaveLength(4);
      expect(busiestWindow(atClaim, duration).count).toBeLessThanOrEqual(2);
    });

    it('a recovered job of a group keeps its group', async () => {
      const queue = 'lease-group';
      workers = await new FlowWorkers({ queue, prefix: q.prefix, processes: 1, concurrency: 1, leaseMs: 1000 }).start();
      const go = `${workers.gauge}:go`;
      const id = await q.producer.enqueue(queue, { hold: go }, { group: 'acme' });
      await workers.waitForStarts(1);
      await (await workers.spawn()).waitForLine(/^ready$/);
      await workers.kill(0, redis);
      await redis.set(go, '1');
      await workers.waitForEnds([id]);
      const again = workers.starts().find((s) => s.worker === 1 && s.id === id);
      expect(again).toMatchObject({ group: 'acme', attempt: 2 });
      // Its group slot was given back with the lease and taken again by the redelivery, then freed.
      expect(await redis.hgetall(key(queue, 'group-state'))).not.toHaveProperty('a:acme');
    });

    // BUG (claim.lua): a recovered job of a group bypasses groupConcurrency. When recovery frees a group slot
    // (dropClaim -> groupSlotFreed) the group rejoins the round robin as soon as it is under its limit, and
    // takeRecovered then takes the recovered job, bringing the group back to its limit without taking the
    // group out of `groups`; the group's next turn (takeGroupTurn never checks `a:<group>` before taking)
    // starts one more job: groupConcurrency + 1 run at once (here 3 for a limit of 2).
    it('groupConcurrency holds through a SIGKILL of a process running jobs of the group', async () => {
      const queue = 'lease-group-conc';
      workers = await new FlowWorkers({
        queue,
        prefix: q.prefix,
        processes: 1,
        concurrency: 4,
        leaseMs: 1000,
        handler: { groupConcurrency: 2 },
      }).start();
      const go = `${workers.gauge}:go`;
      const ids = await q.producer.enqueueMany(queue, bulk(10, { group: 'acme' }, { hold: go }));
      await workers.waitForStarts(2);
      for (let i = 0; i < 2; i++) await (await workers.spawn()).waitForLine(/^ready$/);
      await workers.kill(0, redis);
      const lost = new Set(workers.starts().filter((s) => s.worker === 0).map((s) => s.id));
      // Both lost jobs run again elsewhere (still holding), and the workers claim a few more times.
      await waitFor(() => workers!.starts().filter((s) => s.worker !== 0 && lost.has(s.id)).length === 2, 30_000, 'the redeliveries');
      await workers.waitForEnds(await q.producer.enqueueMany(queue, bulk(6, undefined)));
      await redis.set(go, '1');
      await workers.waitForEnds(ids);
      const live = workers.starts().filter((s) => s.worker !== 0);
      expect(Math.max(...live.map((s) => s.groupRunning))).toBeLessThanOrEqual(2);
    });

    // BUG (claim.lua): a recovered job of a group bypasses groupRateLimit. takeRecovered neither checks the
    // group's window (nor whether the group is parked) nor records the redelivery's start in `r:<group>`,
    // while the queue-wide rateLimit counts every claimed job, recovered ones included (previous test). Here:
    // 2 starts allowed per 4 s, and the two redeliveries start ~1 s after the two lost deliveries.
    it('groupRateLimit holds through a SIGKILL: the redeliveries wait for the group window', async () => {
      const queue = 'lease-group-rate';
      const duration = 4000;
      workers = await new FlowWorkers({
        queue,
        prefix: q.prefix,
        processes: 3,
        concurrency: 2,
        leaseMs: 1000,
        handler: { groupRateLimit: { max: 2, duration } },
      }).start();
      const go = `${workers.gauge}:go`;
      const ids = await q.producer.enqueueMany(queue, bulk(2, { group: 'acme' }, { hold: go }));
      await workers.waitForStarts(2);
      await workers.killHolders(ids, redis);
      await redis.set(go, '1');
      await workers.waitForEnds(ids);
      const atClaim = workers.starts().map((s) => s.claimAt);
      expect(atClaim).toHaveLength(4);
      expect(busiestWindow(atClaim, duration).count).toBeLessThanOrEqual(2);
    });

    it('a lease-lost duplicate may exceed globalConcurrency while the stalled delivery still runs (as documented)', async () => {
      const queue = 'lease-lost';
      const dir = mkdtempSync(join(tmpdir(), 'rq-flow-'));
      const unblock = join(dir, 'unblock');
      try {
        workers = await new FlowWorkers({
          queue,
          prefix: q.prefix,
          processes: 1,
          concurrency: 1,
          leaseMs: 1000,
          handler: { globalConcurrency: 1 },
        }).start();
        // The first process blocks its event loop (CPU-bound work longer than the lease): it cannot renew.
        const id = await q.producer.enqueue(queue, { spin: unblock });
        await workers.waitForStarts(1);
        await (await workers.spawn()).waitForLine(/^ready$/, 60_000);
        // Its lease expires; the second process runs the job again while the first still runs it.
        const again = await waitFor(() => workers!.starts().find((s) => s.worker === 1 && s.id === id), 30_000, 'the redelivery');
        expect(again.running).toBe(2);
        writeFileSync(unblock, '');
        await waitFor(() => workers!.ends().filter((e) => e.id === id).length === 2, 30_000, 'both deliveries to end');
        // Fencing: the stalled delivery's outcome is refused; the job completed once, by the redelivery.
        await waitFor(async () => (await q.inspector.counts(queue)).active === 0, 30_000, 'the ack');
        expect(await q.inspector.counts(queue)).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('graceful shutdown', () => {
    it('a job released at shutdown goes back to the head of its group, ahead of the group\'s other jobs', async () => {
      const queue = 'release-group';
      workers = await new FlowWorkers({ queue, prefix: q.prefix, processes: 1, concurrency: 1, handler: { groupConcurrency: 1 } }).start();
      const go = `${workers.gauge}:go`;
      const ids = await q.producer.enqueueMany(queue, bulk(3, { group: 'acme' }, { hold: go }));
      await workers.waitForStarts(1);
      const survivor = await workers.spawn();
      await survivor.waitForLine(/^ready$/);
      // SIGTERM: the held job does not finish within shutdownTimeout (2 s) and is released; the process exits.
      await workers.children[0].kill('SIGTERM');
      await redis.set(go, '1');
      await workers.waitForEnds(ids);
      const order = workers.inClaimOrder().map((s) => [s.id, s.attempt]);
      expect(order).toEqual([
        [ids[0], 1],
        [ids[0], 1], // released: no attempt counted, first of its group again
        [ids[1], 1],
        [ids[2], 1],
      ]);
    });
  });
});
