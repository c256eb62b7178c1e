import { Cluster } from 'ioredis';
import { QueueAdmin } from 'nestjs-redis-queue';
import { uniquePrefix } from '../support/helpers.js';
import { busiestWindow, FlowWorkers, FlowWorkersOptions, perWindow } from '../flow/support/flow-workers.js';
import { captured, closeAll, ScaleApp, startApp } from './support/apps.js';
import { queueSlot, TestCluster } from './support/cluster.js';
import { Report } from './support/report.js';

const report = new Report('Redis Cluster: flow control (priorities, rate limit, global concurrency, groups)');

/**
 * Issue 14's flow control on a Redis Cluster: every key a flow-control script touches (levels, the rate
 * window, the group round robin, the gauges of these tests) shares the queue's `{queue}` hash tag, so the
 * scripts run on whichever primary owns the queue's slot. Three worker processes per queue, as in test/flow.
 */
describe('flow control on Redis Cluster (3 primaries, 3 replicas)', () => {
  let cluster: TestCluster;
  let producer: ScaleApp;
  let admin: QueueAdmin;
  let redis: Cluster;
  let workers: FlowWorkers | undefined;
  const prefix = uniquePrefix('flow');

  beforeAll(async () => {
    cluster = await TestCluster.start({ primaries: 3, replicasPerPrimary: 1, nodeTimeout: 1000 });
    producer = await startApp({ connection: cluster.connection(), prefix, consumers: false });
    admin = producer.app.get(QueueAdmin);
    redis = new Cluster(cluster.seeds);
  }, 90_000);
  afterEach(async () => {
    const children = workers?.children ?? [];
    await workers?.stop();
    workers = undefined;
    // No script may touch a key outside its queue's slot.
    expect(children.flatMap((c) => c.errors).filter((l) => /CROSSSLOT|non local key/i.test(l))).toEqual([]);
  });
  afterAll(async () => {
    report.print();
    redis?.disconnect();
    await closeAll([producer]);
    await cluster?.stop();
    expect(captured.lines.filter((l) => /CROSSSLOT/i.test(l))).toEqual([]);
  });

  const flowWorkers = (queue: string, options: Partial<FlowWorkersOptions>) =>
    new FlowWorkers({ queue, prefix, processes: 3, connection: cluster.connection(), ...options }).start();

  it('the queues of these tests live on different primaries', async () => {
    const owners = await Promise.all(['prio', 'rate', 'gconc', 'groups'].map(async (q) => (await cluster.primaryFor(q)).port));
    report.add(`slots: ${['prio', 'rate', 'gconc', 'groups'].map((q, i) => `${q} ${queueSlot(q)} on :${owners[i]}`).join(', ')}`);
    expect(new Set(owners).size).toBeGreaterThan(1);
  });

  it('priorities: strict order among ready jobs, FIFO within a level, the default between 5 and 6', async () => {
    const queue = 'prio';
    workers = await flowWorkers(queue, { concurrency: 4 });
    await admin.pause(queue);
    const enqueued: Array<{ id: string; rank: number }> = [];
    for (let round = 0; round < 5; round++) {
      for (const priority of [undefined, 10, 1, 6, 5, 3]) {
        const id = await producer.producer.enqueue(queue, { round }, priority ? { priority } : undefined);
        enqueued.push({ id, rank: priority ?? 5.5 });
      }
    }
    await admin.resume(queue);
    await workers.waitForStarts(enqueued.length);
    const expected = enqueued.map((job, arrival) => ({ ...job, arrival })).sort((a, b) => a.rank - b.rank || a.arrival - b.arrival);
    expect(workers.inClaimOrder().map((s) => s.id)).toEqual(expected.map((job) => job.id));
  });

  it('rate limit: never more than max starts in a window across 3 processes (Redis clock), and reached', async () => {
    const queue = 'rate';
    const max = 10;
    const duration = 500;
    workers = await flowWorkers(queue, { concurrency: 6, handler: { rateLimit: { max, duration } } });
    const ids = await producer.producer.enqueueMany(queue, Array.from({ length: 80 }, (_, n) => ({ payload: { n } })));
    await workers.waitForEnds(ids, 60_000);
    const starts = workers.starts();
    const atClaim = starts.map((s) => s.claimAt);
    const atStart = starts.map((s) => s.at);
    const lags = starts.map((s) => s.lagUs / 1000);
    const spread = Math.ceil(Math.max(...lags) - Math.min(...lags));
    const windows = perWindow(atStart, Math.min(...atStart), duration, 6);
    report.add(
      `rate limit ${max}/${duration} ms, 3 processes: busiest window at claim ${busiestWindow(atClaim, duration).count}, ` +
        `at handler start ${busiestWindow(atStart, duration).count} (lag spread ${spread} ms); first 6 windows ${windows.join(' ')}`,
    );
    expect(busiestWindow(atClaim, duration).count).toBeLessThanOrEqual(max);
    expect(busiestWindow(atStart, duration - 1 - spread).count).toBeLessThanOrEqual(max);
    expect(windows.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(0.9 * 6 * max);
  });

  it('global concurrency: never exceeded across 3 processes, and a SIGKILLed process gives its slots back with its lease', async () => {
    const queue = 'gconc';
    const limit = 3;
    workers = await flowWorkers(queue, { concurrency: 2, leaseMs: 1500, handler: { globalConcurrency: limit } });
    const go = `${workers.gauge}:go`;
    const held = await producer.producer.enqueueMany(queue, Array.from({ length: limit }, () => ({ payload: { hold: go } })));
    const quick = await producer.producer.enqueueMany(queue, Array.from({ length: 40 }, (_, n) => ({ payload: { n, ms: 5 } })));
    await workers.waitForStarts(limit);
    const [victim] = await workers.killHolders([held[0]], redis);
    const lost = new Set(workers.starts().filter((s) => s.worker === victim).map((s) => s.id));
    const killedAt = Math.max(...workers.starts().map((s) => s.seq));
    await redis.set(go, '1');
    await workers.waitForEnds([...held, ...quick], 60_000);
    const live = workers.starts().filter((s) => s.worker !== victim).sort((a, b) => a.seq - b.seq);
    // From the kill to the first redelivery (in the order the gauge was read), the dead process's slots stay taken.
    const afterKill = live.filter((s) => s.seq > killedAt);
    const whileLeased = afterKill.slice(0, afterKill.findIndex((s) => lost.has(s.id)));
    report.add(
      `global concurrency ${limit}: most running ${Math.max(...live.map((s) => s.running))}; ` +
        `${lost.size} slot(s) held by the SIGKILLed process until its lease expired (most running meanwhile ${Math.max(0, ...whileLeased.map((s) => s.running))})`,
    );
    expect(live.filter((s) => s.running > limit)).toEqual([]);
    expect(whileLeased.filter((s) => s.running > limit - lost.size)).toEqual([]);
  });

  it('groups: a 1-job group waits at most one turn behind a 5,000-job group; groupConcurrency holds; RateLimitedError puts a job back', async () => {
    const queue = 'groups';
    workers = await flowWorkers(queue, { concurrency: 4, handler: { groupConcurrency: 3 } });
    await admin.pause(queue);
    const big = await producer.producer.enqueueMany(queue, Array.from({ length: 5000 }, (_, n) => ({ payload: { n }, options: { group: 'big' } })));
    const small = await producer.producer.enqueue(queue, {}, { group: 'small' });
    const throttled = await producer.producer.enqueue(queue, { throttle: 200 }, { group: 'small', track: true });
    await admin.resume(queue);
    await workers.waitForEnds([...big, small, throttled], 120_000);
    const claimed = workers.inClaimOrder();
    expect(claimed.findIndex((s) => s.id === small)).toBeLessThanOrEqual(1);
    expect(workers.starts().filter((s) => s.groupRunning > 3)).toEqual([]);
    // Throttled once by its handler: it ran twice, both times as attempt 1.
    expect(workers.starts().filter((s) => s.id === throttled).map((s) => s.attempt)).toEqual([1, 1]);
    expect(await producer.inspector.job(queue, throttled)).toMatchObject({ state: 'completed', attemptsMade: 1 });
  });
});
