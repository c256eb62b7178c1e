import {
  closeClient,
  consoleLogger,
  createClient,
  JobProducer,
  PubSub,
  QueueInspector,
  QueueLogger,
  QueueWorker,
  RedisClient,
} from '../libs/redis-queue/src/engine/index.js';
import { deferred, rawClient, redisUrl, uniquePrefix, waitFor } from './support/helpers.js';

const quiet = { ...consoleLogger, warn: () => undefined, error: () => undefined, log: () => undefined };

describe('lease fencing', () => {
  const clients: RedisClient[] = [];
  const client = (role: 'producer' | 'worker' | 'blocking') => {
    const c = createClient(redisUrl(), { role, name: `fencing-${role}`, commandTimeout: 5000, logger: quiet });
    clients.push(c);
    return c;
  };
  const hubs: PubSub[] = [];
  const notifications = () => {
    const hub = new PubSub({ connection: redisUrl(), name: 'fencing-notify', logger: quiet });
    hubs.push(hub);
    return hub;
  };
  afterAll(async () => {
    await Promise.all(hubs.map((hub) => hub.close()));
    await Promise.all(clients.map((c) => closeClient(c)));
  });

  it('a worker that lost its lease cannot settle the job over the newer delivery', async () => {
    const prefix = uniquePrefix('fence');
    const producer = new JobProducer({ client: client('producer'), prefix });
    const inspector = new QueueInspector(client('worker'), prefix);
    const firstRelease = deferred();
    const secondRelease = deferred();
    const deliveries: Array<{ worker: string; attempt: number; aborted: () => boolean }> = [];

    const worker = (name: string, gate: Promise<void>, outcome: 'fail' | 'succeed') =>
      new QueueWorker({
        queue: 'pay',
        prefix,
        client: client('worker'),
        notifications: notifications(),
        concurrency: 1,
        leaseMs: 60_000, // long: this test expires the lease by hand, not by waiting
        defaults: { attempts: 5, backoff: { type: 'fixed', delay: 0 } },
        logger: quiet,
        process: async (_payload, job) => {
          deliveries.push({ worker: name, attempt: job.attempt, aborted: () => job.signal.aborted });
          await gate;
          if (outcome === 'fail') throw new Error('stale worker fails');
        },
      });

    const first = worker('first', firstRelease.promise, 'fail');
    first.start();
    await producer.enqueue('pay', { amount: 42 });
    await waitFor(() => deliveries.length === 1, 5000, 'the first delivery');

    // The first worker stalls past its deadline (a long GC pause, a partition): expire its lease.
    const redis = rawClient();
    const leaseKey = `${prefix}:{pay}:deadlines`;
    const [member] = await redis.zrange(leaseKey, 0, 0);
    await redis.zadd(leaseKey, 'XX', 0, member);

    const second = worker('second', secondRelease.promise, 'succeed');
    second.start();
    await waitFor(() => deliveries.length === 2, 5000, 'the second delivery');
    expect(deliveries[1]).toMatchObject({ worker: 'second', attempt: 2 });

    // The stale worker now fails its copy: that must neither retry nor dead-letter the job.
    firstRelease.resolve();
    await waitFor(async () => (await redis.zcard(leaseKey)) === 1 && first.activeCount === 0, 5000, 'the stale settle');
    await new Promise((r) => setTimeout(r, 200));
    expect(await inspector.counts('pay')).toEqual({ ready: 0, delayed: 0, active: 1, dead: 0 });
    const [current] = await redis.zrange(leaseKey, 0, 0);
    expect(current).not.toBe(member); // the second delivery's lease stands

    secondRelease.resolve();
    await waitFor(async () => (await inspector.counts('pay')).active === 0, 5000, 'the second ack');
    expect(await inspector.counts('pay')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
    expect(deliveries).toHaveLength(2);
    await Promise.all([first.stop(1000), second.stop(1000)]);
    redis.disconnect();
  });

  /**
   * Three jobs in one claim of a first worker, held by `gate`; their lease is then expired by hand and a
   * second worker runs all three again. The first worker's warnings are collected.
   */
  async function claimLostWhileRunning(queue: string) {
    const prefix = uniquePrefix('fence');
    const producer = new JobProducer({ client: client('producer'), prefix });
    const warnings: string[] = [];
    const gate = deferred();
    const firstStarts: string[] = [];
    const secondDone: string[] = [];
    const worker = (onJob: (id: string) => Promise<void> | void, logger: QueueLogger = quiet) =>
      new QueueWorker({
        queue,
        prefix,
        client: client('worker'),
        notifications: notifications(),
        concurrency: 6, // each lane claims 3 at once
        leaseMs: 60_000,
        defaults: { attempts: 5, backoff: { type: 'fixed', delay: 0 } },
        logger,
        process: (_payload, job) => onJob(job.id),
      });
    await producer.enqueueMany(queue, [{ payload: { n: 1 } }, { payload: { n: 2 } }, { payload: { n: 3 } }]);
    const first = worker(
      async (id) => {
        firstStarts.push(id);
        await gate.promise;
      },
      { ...quiet, warn: (message: string) => void warnings.push(message) },
    );
    first.start();
    await waitFor(() => firstStarts.length === 3, 5000, 'one claim of three jobs');
    const expireLease = async () => {
      const redis = rawClient();
      const leaseKey = `${prefix}:{${queue}}:deadlines`;
      expect(await redis.zcard(leaseKey)).toBe(1);
      const [member] = await redis.zrange(leaseKey, 0, 0);
      await redis.zadd(leaseKey, 'XX', 0, member);
      redis.disconnect();
      const second = worker((id) => void secondDone.push(id));
      second.start();
      await waitFor(() => secondDone.length === 3, 5000, 'the three jobs delivered again');
      return second;
    };
    return { first, gate, warnings, expireLease };
  }

  it('counts every job of a claim recovered whole as not settled, so lost leases are reported in full', async () => {
    const { first, gate, warnings, expireLease } = await claimLostWhileRunning('batch');
    const second = await expireLease();
    try {
      // All three of the first worker's jobs now succeed: one whole-claim acknowledgement, refused.
      gate.resolve();
      await waitFor(() => warnings.some((w) => /not settled/.test(w)), 5000, 'the refused acknowledgement');
      expect(warnings.filter((w) => /not settled/.test(w))).toEqual([
        'Queue "batch": 3 finished job(s) were not settled because their lease had been lost (another delivery owns them)',
      ]);
    } finally {
      await Promise.all([first.stop(1000), second.stop(1000)]);
    }
  });

  it('reports acknowledgements refused at shutdown too: jobs that finish while their worker stops, after their lease was lost', async () => {
    const { first, gate, warnings, expireLease } = await claimLostWhileRunning('stopping');
    const stopping = first.stop(30_000); // waits for the running jobs
    const second = await expireLease();
    try {
      gate.resolve(); // the stopping worker's jobs finish now: their acknowledgement is refused
      await stopping;
      expect(warnings.filter((w) => /not settled/.test(w))).toEqual([
        'Queue "stopping": 3 finished job(s) were not settled because their lease had been lost (another delivery owns them)',
      ]);
    } finally {
      await second.stop(1000);
    }
  });

  it('aborts the signal of a job whose lease was lost, when renewal finds out', async () => {
    const prefix = uniquePrefix('fence');
    const producer = new JobProducer({ client: client('producer'), prefix });
    const aborted = deferred<unknown>();
    const worker = new QueueWorker({
      queue: 'long',
      prefix,
      client: client('worker'),
      notifications: notifications(),
      concurrency: 1,
      leaseMs: 600, // renewed every 200 ms
      defaults: { attempts: 3, backoff: { type: 'fixed', delay: 0 } },
      logger: quiet,
      process: (_payload, job) =>
        new Promise<void>((resolve) =>
          job.signal.addEventListener('abort', () => {
            aborted.resolve(job.signal.reason);
            resolve();
          }),
        ),
    });
    worker.start();
    await producer.enqueue('long', {});
    const redis = rawClient();
    const leaseKey = `${prefix}:{long}:deadlines`;
    await waitFor(async () => (await redis.zcard(leaseKey)) === 1, 5000, 'the claim');
    // The worker stalls past its deadline and another worker recovers the job.
    const [member] = await redis.zrange(leaseKey, 0, 0);
    await redis.zadd(leaseKey, 'XX', 0, member);
    const other = new QueueWorker({
      queue: 'long',
      prefix,
      client: client('worker'),
      notifications: notifications(),
      concurrency: 1,
      leaseMs: 60_000,
      defaults: { attempts: 3, backoff: { type: 'fixed', delay: 0 } },
      logger: quiet,
      process: () => undefined,
    });
    other.start();
    const reason = await aborted.promise;
    expect((reason as Error).name).toBe('LeaseLostError');
    await Promise.all([worker.stop(1000), other.stop(1000)]);
    redis.disconnect();
  });
});
