import { hostname } from 'os';
import { Redis } from 'ioredis';
import { InvalidOptionError, PermanentJobError, QueueAdmin } from 'nestjs-redis-queue';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { LIBRARY_VERSION, queueKeys } from '../../libs/redis-queue/src/engine/index.js';
import { ChildScript } from '../support/child.js';
import { rawClient, sleep, uniquePrefix, waitFor } from '../support/helpers.js';
import { QueueApp, startQueueApp } from '../support/queue-app.js';
import { CommandMonitor, handlerFor, linesMatching, startWorkerProcess, waitForSubscribers, type TestHandler } from '../support/steering.js';

// QueueAdmin: pause and resume for every worker, the dead-letter set, promote, and the registry.

const prefix = uniquePrefix('admin');
let api: QueueApp;
let admin: QueueAdmin;
let raw: Redis;
const apps: QueueApp[] = [];
const children: ChildScript[] = [];

async function worker(queue: string, run: TestHandler, concurrency = 1, options: { prefix?: string } = {}) {
  const app = await startQueueApp([handlerFor(queue, run, { concurrency })], { prefix: options.prefix ?? prefix, shutdownTimeout: 1000 });
  apps.push(app);
  return app;
}

/** A permanent failure with a one-line stack, so that thousands of dead entries stay small. */
function smallPermanentError(message: string): PermanentJobError {
  const error = new PermanentJobError(message);
  error.stack = `PermanentJobError: ${message}`;
  return error;
}

beforeAll(async () => {
  api = await startQueueApp([], { prefix, consumers: false });
  admin = api.app.get(QueueAdmin);
  raw = rawClient();
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()));
  await Promise.all(apps.map((app) => app.close()));
  await api.close();
  raw.disconnect();
});

describe('pause and resume', () => {
  describe('across worker processes, on a Redis of its own (to watch their commands)', () => {
    let server: RedisServer;
    let monitor: CommandMonitor;
    const own = uniquePrefix('pause');
    const workers: ChildScript[] = [];
    let ownApi: QueueApp;

    beforeAll(async () => {
      server = await RedisServer.start();
      ownApi = await startQueueApp([], { prefix: own, consumers: false, connection: server.url });
      for (let i = 0; i < 3; i++) workers.push(await startWorkerProcess({ prefix: own, queues: ['paused-q'], concurrency: 4, url: server.url }));
      const client = server.client();
      await waitForSubscribers(client, own, 'paused-q', 3);
      client.disconnect();
      monitor = await CommandMonitor.start(server.port);
    });

    afterAll(async () => {
      await Promise.all(workers.map((w) => w.kill()));
      await ownApi.close();
      await monitor.stop();
      await server.stop();
    });

    const startedIds = () => workers.flatMap((w) => linesMatching(w, /^started paused-q /).map((l) => l.split(' ')[2]));
    const finishedIds = () => workers.flatMap((w) => linesMatching(w, /^finished paused-q /).map((l) => l.split(' ')[2]));

    it('a paused queue starts nothing, running jobs finish, idle workers send about a command a second at most, and resume runs the backlog', async () => {
      const ownAdmin = ownApi.app.get(QueueAdmin);
      const p = ownApi.producer;
      // Three jobs running when the pause comes.
      const running = await p.enqueueMany('paused-q', [1, 2, 3].map(() => ({ payload: { run: 'sleep', ms: 1500 }, options: { track: true } })));
      await waitFor(() => running.every((id) => startedIds().includes(id)), 20_000, 'three running jobs');
      expect(await ownAdmin.pause('paused-q')).toBe(true);
      expect(await ownAdmin.pause('paused-q')).toBe(false); // already paused
      expect((await ownApi.inspector.overview('paused-q')).paused).toBe(true);

      const backlog = await p.enqueueMany('paused-q', Array.from({ length: 20 }, (_, i) => ({ payload: { i } })));
      // A delayed job falls due while paused: the workers' timers wake them, a claim promotes it, and
      // starts nothing.
      const due = await p.enqueue('paused-q', { due: true }, { delay: 300 });
      await waitFor(async () => (await ownApi.inspector.counts('paused-q')).delayed === 0, 20_000, 'the due job to be promoted');
      for (const id of running) {
        await waitFor(async () => (await ownApi.inspector.job('paused-q', id))?.state === 'completed', 20_000, `running job ${id} to finish`);
      }
      expect(await ownApi.inspector.counts('paused-q')).toEqual({ ready: 21, delayed: 0, active: 0, dead: 0 });

      // Idle while paused: count every command the three worker processes send over a few seconds.
      const from = monitor.commands.length;
      const began = Date.now();
      await sleep(5000); // a measurement window, not a wait for a condition
      const seconds = (Date.now() - began) / 1000;
      const sent = monitor.since(from);
      expect(sent.length).toBeLessThanOrEqual(Math.ceil(3 * seconds) + 3);
      expect(startedIds().filter((id) => backlog.includes(id) || id === due)).toEqual([]);

      expect(await ownAdmin.resume('paused-q')).toBe(true);
      expect(await ownAdmin.resume('paused-q')).toBe(false);
      const all = [...backlog, due];
      await waitFor(() => all.every((id) => finishedIds().includes(id)), 30_000, 'the backlog to run');
      expect(startedIds().sort()).toEqual([...running, ...all].sort()); // each once
      await waitFor(async () => (await ownApi.inspector.counts('paused-q')).active === 0, 10_000, 'the acks');
      expect((await ownApi.inspector.overview('paused-q')).paused).toBe(false);
    });
  });

  it('pause during claims: from the moment pause() resolves no job leaves the ready list, and nothing is lost', async () => {
    const started = new Map<string, number>();
    await worker(
      'claiming-q',
      async (_payload, job) => {
        started.set(job.id, (started.get(job.id) ?? 0) + 1);
        await new Promise((resolve) => setImmediate(resolve));
      },
      32,
    );
    const ids = await api.producer.enqueueMany('claiming-q', Array.from({ length: 5000 }, (_, i) => ({ payload: { i } })));
    await waitFor(() => started.size >= 300, 20_000, 'the workers to be busy');
    await admin.pause('claiming-q');
    const readyAtPause = (await api.inspector.counts('claiming-q')).ready;
    await waitFor(async () => (await api.inspector.counts('claiming-q')).active === 0, 20_000, 'claimed jobs to finish');
    const paused = await api.inspector.counts('claiming-q');
    expect(paused.ready).toBe(readyAtPause);
    expect(started.size).toBe(5000 - paused.ready); // exactly the claimed jobs ran
    if (paused.ready === 0) console.warn('pause came after every job was claimed: the race was not exercised this run');

    await admin.resume('claiming-q');
    await waitFor(() => started.size === 5000, 30_000, 'every job to run after resume');
    await waitFor(async () => (await api.inspector.counts('claiming-q')).active === 0, 10_000, 'the acks');
    expect([...started.values()].every((n) => n === 1)).toBe(true);
    expect([...started.keys()].sort()).toEqual([...ids].sort());
  });

  it('a queue paused before any worker starts stays paused for workers that start later', async () => {
    const ran: string[] = [];
    await admin.pause('late-start-q');
    const id = await api.producer.enqueue('late-start-q', {}, { track: true });
    await worker('late-start-q', (_p, job) => void ran.push(job.id), 2);
    await waitForSubscribers(raw, prefix, 'late-start-q');
    // Its first claim (at start) and any later one take nothing: promote a due job to make it look.
    await api.producer.enqueue('late-start-q', {}, { delay: 200 });
    await waitFor(async () => (await api.inspector.counts('late-start-q')).delayed === 0, 10_000, 'a claim while paused');
    expect(ran).toEqual([]);
    expect((await api.inspector.job('late-start-q', id))!.state).toBe('ready');
    await admin.resume('late-start-q');
    await waitFor(() => ran.length === 2, 10_000, 'both jobs to run');
  });
});

describe('the dead-letter set', () => {
  it('retryDead() while workers run: the dead jobs run again with their attempts reset, the rest is undisturbed', async () => {
    let badFails = true;
    const runs = new Map<string, number[]>();
    await worker(
      'retry-dead-q',
      async (payload: { kind: 'bad' | 'good' }, job) => {
        runs.set(job.id, [...(runs.get(job.id) ?? []), job.attempt]);
        if (payload.kind === 'bad' && badFails) throw smallPermanentError('bad input');
        await new Promise((resolve) => setImmediate(resolve));
      },
      16,
    );
    const bad = await api.producer.enqueueMany('retry-dead-q', Array.from({ length: 300 }, () => ({ payload: { kind: 'bad' as const }, options: { attempts: 3 } })));
    await waitFor(async () => (await api.inspector.counts('retry-dead-q')).dead === 300, 20_000, '300 dead jobs');
    expect((await api.inspector.deadJobs('retry-dead-q', { limit: 1 }))[0]).toMatchObject({ attemptsMade: 1, error: { name: 'PermanentJobError' } });

    badFails = false;
    const good = await api.producer.enqueueMany('retry-dead-q', Array.from({ length: 3000 }, () => ({ payload: { kind: 'good' as const } })));
    await waitFor(() => good.filter((id) => runs.has(id)).length >= 100, 20_000, 'the good jobs to be running');
    expect(await admin.retryDead('retry-dead-q')).toBe(300);
    await waitFor(() => [...bad, ...good].every((id) => runs.get(id)?.length === (bad.includes(id) ? 2 : 1)), 30_000, 'every job to run');
    await waitFor(async () => {
      const c = await api.inspector.counts('retry-dead-q');
      return c.ready + c.delayed + c.active + c.dead === 0;
    }, 10_000, 'an empty queue');
    expect(bad.every((id) => runs.get(id)!.join() === '1,1')).toBe(true); // attempts reset: the retry is attempt 1
    expect(good.every((id) => runs.get(id)!.join() === '1')).toBe(true);
    expect(await admin.retryDead('retry-dead-q')).toBe(0);
    // The per-minute figures agree (summed: the run may straddle a minute).
    const { throughput } = await api.inspector.overview('retry-dead-q', 5);
    const sum = (field: 'completed' | 'dead') => throughput.reduce((n, m) => n + m[field], 0);
    expect(sum('completed')).toBe(3300);
    expect(sum('dead')).toBe(300);
  });

  it('retryDead(ids) and removeDead(ids) act on those ids only; removeDead() on the rest; ids are free again', async () => {
    let fail = true;
    const ran: string[] = [];
    await worker('remove-dead-q', (_p, job) => {
      ran.push(job.id);
      if (fail) throw smallPermanentError(`no ${job.id}`);
    }, 8);
    const ids = Array.from({ length: 30 }, (_, i) => `rm-${i}`);
    await api.producer.enqueueMany('remove-dead-q', ids.map((jobId) => ({ payload: {}, options: { jobId } })));
    await waitFor(async () => (await api.inspector.counts('remove-dead-q')).dead === 30, 20_000, '30 dead jobs');

    expect(await admin.removeDead('remove-dead-q', [...ids.slice(0, 10), 'not-dead', 'rm-0'])).toBe(10);
    expect((await api.inspector.counts('remove-dead-q')).dead).toBe(20);
    expect(await api.inspector.job('remove-dead-q', 'rm-0')).toBeUndefined();
    expect(await api.inspector.deadJob('remove-dead-q', 'rm-10')).toMatchObject({ id: 'rm-10', error: { message: 'no rm-10' } });

    // A removed job's id is free: enqueuing it stores a new job, which runs.
    fail = false;
    ran.length = 0;
    expect(await api.producer.enqueue('remove-dead-q', { again: true }, { jobId: 'rm-0', track: true })).toBe('rm-0');
    await waitFor(() => ran.includes('rm-0'), 10_000, 'the new rm-0 to run');
    // While dead, an id stays taken: enqueuing rm-10 again stores nothing.
    expect(await api.producer.enqueue('remove-dead-q', { again: true }, { jobId: 'rm-10' })).toBe('rm-10');
    expect((await api.inspector.counts('remove-dead-q')).ready).toBe(0);

    expect(await admin.retryDead('remove-dead-q', ['rm-10', 'rm-11', 'rm-0'])).toBe(2);
    await waitFor(() => ran.includes('rm-10') && ran.includes('rm-11'), 10_000, 'the retried jobs to run');
    expect(await admin.removeDead('remove-dead-q')).toBe(18);
    expect(await api.inspector.counts('remove-dead-q')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
    expect(await raw.zcard(queueKeys(prefix, 'remove-dead-q').deadIndex)).toBe(0);
    expect(await admin.removeDead('remove-dead-q')).toBe(0);
    expect(await admin.retryDead('remove-dead-q', [])).toBe(0);
  });

  it('a retried tracked job is tracked again: job() and waitForResult() follow it to its result', async () => {
    let fail = true;
    await worker('retry-tracked-q', (payload: { n: number }) => {
      if (fail) throw smallPermanentError('not yet');
      return payload.n * 3;
    });
    const id = await api.producer.enqueue('retry-tracked-q', { n: 14 }, { track: true });
    await waitFor(async () => (await api.inspector.job('retry-tracked-q', id))?.state === 'dead', 10_000, 'the job to die');
    fail = false;
    expect(await admin.retryDead('retry-tracked-q', [id])).toBe(1);
    await waitFor(async () => (await api.inspector.job('retry-tracked-q', id))?.state === 'completed', 10_000, 'the retried job to complete');
    expect(await api.inspector.job('retry-tracked-q', id)).toMatchObject({ state: 'completed', result: 42, attemptsMade: 1, tracked: true });
    await expect(api.producer.waitForResult('retry-tracked-q', id)).resolves.toBe(42);
  });

  it('bad ids are refused, naming the field', async () => {
    await expect(admin.retryDead('remove-dead-q', 'rm-1' as unknown as string[])).rejects.toThrow(InvalidOptionError);
    await expect(admin.removeDead('remove-dead-q', 'rm-1' as unknown as string[])).rejects.toThrow(/"ids"/);
    await expect(admin.removeDead('bad queue', ['x'])).rejects.toThrow(/queue/);
  });

  // BUG (engine, admin.ts `dead`): with an empty id list no script is called, and the queue name is
  // only checked on the way to a script: removeDead('bad queue', []) resolves with 0 instead of
  // refusing the name (bad input gets a clear error naming the field).
  it('a bad queue name is refused even with no ids', async () => {
    await expect(admin.removeDead('bad queue', [])).rejects.toThrow(/queue/);
    await expect(admin.retryDead('bad queue', [])).rejects.toThrow(/queue/);
  });

  it('in batches: 20,000 dead jobs retried, then 20,000 removed', async () => {
    const own = uniquePrefix('batch');
    const ownApi = await startQueueApp([], { prefix: own, consumers: false });
    apps.push(ownApi);
    const ownAdmin = ownApi.app.get(QueueAdmin);
    let fail = true;
    let runs = 0;
    const run = () => {
      runs++;
      if (fail) throw smallPermanentError('bad');
    };
    const w = await worker('batch-q', run, 200, { prefix: own });
    const total = 20_000;
    for (let i = 0; i < total; i += 5000) {
      await ownApi.producer.enqueueMany('batch-q', Array.from({ length: 5000 }, (_, j) => ({ payload: { n: i + j }, options: { attempts: 1 } })));
    }
    await waitFor(async () => (await ownApi.inspector.counts('batch-q')).dead === total, 60_000, `${total} dead jobs`);
    await w.close();

    expect(await ownAdmin.retryDead('batch-q')).toBe(total);
    expect(await ownApi.inspector.counts('batch-q')).toEqual({ ready: total, delayed: 0, active: 0, dead: 0 });
    await worker('batch-q', run, 200, { prefix: own });
    await waitFor(async () => (await ownApi.inspector.counts('batch-q')).dead === total, 60_000, `${total} dead jobs again`);
    expect(runs).toBe(2 * total);

    expect(await ownAdmin.removeDead('batch-q')).toBe(total);
    expect(await ownApi.inspector.counts('batch-q')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
    expect(await raw.exists(queueKeys(own, 'batch-q').dead, queueKeys(own, 'batch-q').deadIndex)).toBe(0);
    fail = false;
  });
});

describe('promote', () => {
  it('runs a tracked delayed job now, found by id; false for one that is not delayed', async () => {
    const ran: Array<{ id: string; at: number }> = [];
    await worker('promote-q', (_p, job) => void ran.push({ id: job.id, at: Date.now() }));
    const id = await api.producer.enqueue('promote-q', { later: true }, { track: true, delay: 3_600_000 });
    // Another due time: jobs due in the same millisecond are a bug of their own (see inspector.e2e-spec.ts).
    const other = await api.producer.enqueue('promote-q', { later: true }, { track: true, delay: 7_200_000 });
    expect(await admin.promote('promote-q', id)).toBe(true);
    await waitFor(() => ran.some((r) => r.id === id), 10_000, 'the promoted job to run');
    await waitFor(async () => (await api.inspector.job('promote-q', id))?.state === 'completed', 10_000, 'completion');
    expect(await admin.promote('promote-q', id)).toBe(false); // completed
    expect(await admin.promote('promote-q', 'no-such-job')).toBe(false);
    expect((await api.inspector.job('promote-q', other))!.state).toBe('delayed');
    expect(ran.map((r) => r.id)).toEqual([id]);
  });
});

describe('registry', () => {
  it('workers(): each worker process with its host, pid, queues, concurrency, heartbeat and version; gone once it stops', async () => {
    const before = Date.now();
    const c = await startWorkerProcess({ prefix, queues: ['reg-a', 'reg-b'], concurrency: { 'reg-a': 3, 'reg-b': 7 } });
    children.push(c);
    await worker('reg-c', () => undefined, 5);
    const listed = await waitFor(async () => {
      const all = await admin.workers();
      const here = all.some((w) => w.pid === process.pid && w.queues.some((q) => q.queue === 'reg-c'));
      return all.some((w) => w.pid === c.process.pid) && here ? all : undefined;
    }, 20_000, 'both workers to register');
    const child = listed.find((w) => w.pid === c.process.pid)!;
    expect(child).toMatchObject({ host: hostname(), pid: c.process.pid, version: LIBRARY_VERSION });
    expect(child.queues).toEqual([
      { queue: 'reg-a', concurrency: 3 },
      { queue: 'reg-b', concurrency: 7 },
    ]);
    expect(child.id).toContain(String(c.process.pid));
    expect(child.startedAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(child.heartbeatAt.getTime()).toBeGreaterThanOrEqual(child.startedAt.getTime());
    const mine = listed.find((w) => w.pid === process.pid && w.queues.some((q) => q.queue === 'reg-c'))!;
    expect(mine.queues).toEqual([{ queue: 'reg-c', concurrency: 5 }]);

    const queues = await api.inspector.queues();
    expect(queues).toEqual(expect.arrayContaining(['reg-a', 'reg-b', 'reg-c']));
    expect([...queues].sort()).toEqual(queues);

    await c.kill('SIGTERM'); // graceful: it removes its entry
    await waitFor(async () => !(await admin.workers()).some((w) => w.pid === c.process.pid), 20_000, 'the stopped worker to leave the registry');
  });

  it('queues(): the queues producers and workers used under this prefix, by name', async () => {
    const own = uniquePrefix('queues');
    const ownApi = await startQueueApp([], { prefix: own, consumers: false });
    apps.push(ownApi);
    await ownApi.inspector.counts('zeta'); // the producer connection is ready (see the bug below)
    await ownApi.producer.enqueue('zeta', {});
    await ownApi.producer.enqueue('alpha', {});
    await worker('mid', () => undefined, 1, { prefix: own });
    await waitFor(async () => (await ownApi.inspector.queues()).length === 3, 10_000, 'three queues');
    expect(await ownApi.inspector.queues()).toEqual(['alpha', 'mid', 'zeta']);
  });

  // BUG (engine, producer.ts keysOf + registry.ts noteQueue): a producer notes a queue in the registry
  // once, the first time it uses the queue, with a ZADD sent at once on a connection without an offline
  // queue. When that first enqueue comes before the connection is ready (an API app's first request
  // right after boot), the ZADD fails, and the producer never notes the queue again (keysOf caches the
  // queue's keys; noteQueue forgets the failure, but is not called again). A queue only producers use
  // is then missing from queues() for the producer's whole life.
  it("queues(): a queue is listed even when the producer's first enqueue came before its connection was ready", async () => {
    const own = uniquePrefix('queues-early');
    const ownApi = await startQueueApp([], { prefix: own, consumers: false });
    apps.push(ownApi);
    await ownApi.producer.enqueue('first', {});
    await ownApi.producer.enqueue('second', {});
    await waitFor(async () => (await ownApi.inspector.queues()).length === 2, 10_000, 'two queues');
    expect(await ownApi.inspector.queues()).toEqual(['first', 'second']);
  });
});
