import { PermanentJobError } from 'nestjs-redis-queue';
import { ChildScript } from '../../support/child.js';
import { uniquePrefix } from '../../support/helpers.js';
import { tryNode, until } from './admin.js';
import { captured, closeAll, handlerFor, ScaleApp, startApp } from './apps.js';
import type { Topology } from './topology.js';

/**
 * Eight queues with everyday names. On a three-primary cluster their hash tags land on all three
 * primaries (3/2/3), so every behaviour below crosses slots and nodes.
 */
export const QUEUES = ['email', 'sms', 'push', 'webhooks', 'reports', 'billing', 'images', 'thumbnails'];

/** The key of a queue's ready list under a prefix (what tests read on replicas). */
const readyKey = (prefix: string, queue: string) => `${prefix}:{${queue}}:ready`;

/**
 * The core suite's behaviours, on a replicated deployment: enqueue -> handle, retries, delays,
 * dead-letter, graceful shutdown, crash recovery, the startup configuration check and waitForReplicas.
 * No log line may mention CROSSSLOT.
 */
export function coreBehaviours(topology: () => Topology): void {
  const apps: ScaleApp[] = [];
  const start = async (...args: Parameters<typeof startApp>) => {
    const app = await startApp(...args);
    apps.push(app);
    return app;
  };
  afterEach(async () => {
    await closeAll(apps.splice(0));
  });
  afterAll(() => {
    expect(captured.lines.filter((l) => /CROSSSLOT/i.test(l))).toEqual([]);
  });

  it('enqueue -> handle on eight queues (enqueue and enqueueMany), each job once, with its trace id', async () => {
    const seen = new Map<string, { count: number; traceId: string; id: string }>();
    const handlers = QUEUES.map((queue) =>
      handlerFor(
        queue,
        (payload, job) => {
          const key = `${queue}:${(payload as { n: number }).n}`;
          const entry = seen.get(key);
          if (entry) entry.count++;
          else seen.set(key, { count: 1, traceId: job.traceId, id: job.id });
        },
        { concurrency: 20 },
      ),
    );
    const q = await start({ connection: topology().connection() }, handlers);
    const perQueue = 1201; // enqueueMany stores in batches of 1000: two script calls per queue
    const expected: string[] = [];
    await Promise.all(
      QUEUES.map(async (queue) => {
        const id = await q.producer.enqueue(queue, { n: 0 }, { traceId: `trace-${queue}` });
        const ids = await q.producer.enqueueMany(
          queue,
          Array.from({ length: perQueue - 1 }, (_, i) => ({ payload: { n: i + 1 } })),
        );
        expect(new Set([id, ...ids]).size).toBe(perQueue);
        for (let n = 0; n < perQueue; n++) expected.push(`${queue}:${n}`);
        expect(ids[0]).toBe(String(Number(id) + 1));
      }),
    );
    await until(() => seen.size === expected.length, 60_000, `${expected.length} jobs to be handled`);
    expect([...seen.values()].filter((e) => e.count > 1)).toEqual([]);
    for (const queue of QUEUES) expect(seen.get(`${queue}:0`)?.traceId).toBe(`trace-${queue}`);
    await until(
      async () => (await Promise.all(QUEUES.map((queue) => q.inspector.counts(queue)))).every((c) => c.active + c.ready === 0),
      10_000,
      'every queue to be empty',
    );
  });

  it('retries a failing job with backoff until it succeeds', async () => {
    const attempts: number[] = [];
    const handler = handlerFor('webhooks', (_payload, job) => {
      attempts.push(job.attempt);
      if (job.attempt < 3) throw new Error(`flaky endpoint (attempt ${job.attempt})`);
    });
    const q = await start({ connection: topology().connection() }, [handler]);
    await q.producer.enqueue('webhooks', { url: 'https://example.com/hook' }, { attempts: 5, backoff: { type: 'fixed', delay: 50 } });
    await until(() => attempts.length === 3, 10_000, 'three attempts');
    await until(async () => (await q.inspector.counts('webhooks')).active === 0, 5000, 'the final ack');
    expect(attempts).toEqual([1, 2, 3]);
    expect(await q.inspector.counts('webhooks')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
  });

  it('runs delayed jobs on two queues when due, never early', async () => {
    const ran = new Map<string, number>();
    const handlers = ['reports', 'sms'].map((queue) => handlerFor(queue, (payload) => void ran.set((payload as { key: string }).key, Date.now())));
    const q = await start({ connection: topology().connection() }, handlers);
    const at = Date.now();
    await q.producer.enqueue('reports', { key: 'reports-600' }, { delay: 600 });
    await q.producer.enqueue('sms', { key: 'sms-300' }, { delay: 300 });
    await q.producer.enqueue('sms', { key: 'sms-runAt' }, { runAt: new Date(at + 450) });
    expect((await q.inspector.counts('reports')).delayed).toBe(1);
    await until(() => ran.size === 3, 10_000, 'three delayed jobs');
    // Due times are on Redis's clock; Redis runs on this machine, so this clock is the same one.
    const lateness = { 'reports-600': 600, 'sms-300': 300, 'sms-runAt': 450 };
    for (const [key, due] of Object.entries(lateness)) {
      const late = ran.get(key)! - at - due;
      expect({ key, early: late < -5 }).toEqual({ key, early: false });
      expect({ key, prompt: late < 1500 }).toEqual({ key, prompt: true });
    }
  });

  it('dead-letters permanent failures and exhausted jobs, with payload and error, readable by the inspector', async () => {
    const handler = handlerFor('billing', (payload) => {
      const { kind } = payload as { kind: string };
      if (kind === 'permanent') throw new PermanentJobError('card declined for good');
      throw new Error('gateway timeout');
    });
    const q = await start({ connection: topology().connection() }, [handler]);
    const permanent = await q.producer.enqueue('billing', { kind: 'permanent' }, { attempts: 5 });
    const exhausted = await q.producer.enqueue('billing', { kind: 'flaky' }, { attempts: 2, backoff: { type: 'fixed', delay: 20 } });
    await until(async () => (await q.inspector.counts('billing')).dead === 2, 10_000, 'two dead jobs');
    const dead = await q.inspector.deadJobs('billing');
    expect(dead.map((d) => d.id).sort()).toEqual([permanent, exhausted].sort());
    const first = await q.inspector.deadJob('billing', permanent);
    expect(first).toMatchObject({ attemptsMade: 1, payload: { kind: 'permanent' }, error: { name: 'PermanentJobError', message: 'card declined for good' } });
    const second = await q.inspector.deadJob('billing', exhausted);
    expect(second).toMatchObject({ attemptsMade: 2, payload: { kind: 'flaky' }, error: { message: 'gateway timeout' } });
    expect(await q.inspector.counts('billing')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 2 });
  });

  it('graceful shutdown hands an unfinished job back at once, without counting an attempt', async () => {
    const prefix = uniquePrefix('shutdown');
    const started: number[] = [];
    const endless = handlerFor('images', (_payload, job) => {
      started.push(job.attempt);
      return new Promise<void>((resolve) => job.signal.addEventListener('abort', () => resolve()));
    });
    const worker = await start({ connection: topology().connection(), prefix, shutdownTimeout: 300, leaseDuration: 30_000 }, [endless]);
    const producer = await start({ connection: topology().connection(), prefix, consumers: false });
    await producer.producer.enqueue('images', { file: 'cat.png' });
    await until(() => started.length === 1, 10_000, 'the job to start');
    const closing = Date.now();
    await worker.close();
    expect(Date.now() - closing).toBeLessThan(5000);
    // The lease is 30 s: ready now means released, not expired.
    expect(await producer.inspector.counts('images')).toEqual({ ready: 1, delayed: 0, active: 0, dead: 0 });
    const done: number[] = [];
    await start({ connection: topology().connection(), prefix }, [handlerFor('images', (_p, job) => void done.push(job.attempt))]);
    await until(() => done.length === 1, 10_000, 'the released job to run again');
    expect(done).toEqual([1]);
  });

  it('a job running longer than its lease keeps it: the lease is renewed, the job runs once', async () => {
    const runs: number[] = [];
    const slow = handlerFor('reports', async (_payload, job) => {
      runs.push(job.attempt);
      await new Promise((resolve) => setTimeout(resolve, 2500));
    });
    const q = await start({ connection: topology().connection(), leaseDuration: 1000 }, [slow]);
    await q.producer.enqueue('reports', { month: '2026-10' });
    await until(async () => runs.length === 1 && (await q.inspector.counts('reports')).active === 0, 10_000, 'the slow job to finish');
    expect(runs).toEqual([1]);
    expect(await q.inspector.counts('reports')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
  });

  it('a worker process SIGKILLed mid-job: its job is completed by another worker once the lease expires', async () => {
    const prefix = uniquePrefix('crash');
    const child = ChildScript.start('test/scale/fixtures/scale-worker.ts', {
      RQ_CONNECTION: JSON.stringify(topology().connection()),
      RQ_PREFIX: prefix,
      RQ_QUEUES: 'thumbnails',
      RQ_MODE: 'stuck',
      RQ_LEASE_MS: '1000',
    });
    try {
      await child.waitForLine(/^ready$/, 60_000);
      const producer = await start({ connection: topology().connection(), prefix, consumers: false });
      const id = await producer.producer.enqueue('thumbnails', { n: 1 });
      expect(await child.waitForLine(/^started thumbnails/, 15_000)).toBe(`started thumbnails ${id} 1`);
      await child.kill('SIGKILL');
      const killedAt = Date.now();
      expect((await producer.inspector.counts('thumbnails')).active).toBe(1); // still leased to the dead worker
      const completed: Array<{ id: string; attempt: number; at: number }> = [];
      await start({ connection: topology().connection(), prefix, leaseDuration: 1000 }, [
        handlerFor('thumbnails', (_p, job) => void completed.push({ id: job.id, attempt: job.attempt, at: Date.now() })),
      ]);
      await until(() => completed.length === 1, 15_000, 'the survivor to complete the job');
      expect(completed[0]).toMatchObject({ id, attempt: 2 });
      expect(completed[0].at - killedAt).toBeGreaterThanOrEqual(500);
      await until(async () => (await producer.inspector.counts('thumbnails')).active === 0, 5000, 'the ack');
    } finally {
      await child.kill('SIGKILL');
    }
  });

  it('the startup configuration check runs (and warns that persistence is off)', async () => {
    const logged = captured.since();
    await start({ connection: topology().connection(), checkRedisConfig: true, consumers: false });
    const warning = await until(() => logged().find((l) => /Redis( \(cluster node [^)]+\))? persistence is off/.test(l)), 10_000, 'the durability warning');
    expect(warning).toMatch(/^warn /);
    expect(logged().filter((l) => l.includes('Could not read the Redis configuration'))).toEqual([]);
  });

  it('waitForReplicas: enqueue and enqueueMany resolve only once the replica of each queue has the jobs', async () => {
    const q = await start({ connection: topology().connection(), consumers: false, waitForReplicas: { replicas: 1 } });
    for (const queue of QUEUES) {
      await q.producer.enqueue(queue, { n: 0 });
      await q.producer.enqueueMany(queue, Array.from({ length: 1500 }, (_, i) => ({ payload: { n: i + 1 } })));
      const replica = await topology().replicaFor(queue);
      // No waiting: the replica must already hold every job when enqueue resolved.
      const onReplica = await tryNode(replica.port, async (r) => {
        if (topology().kind === 'cluster') await r.call('READONLY');
        return r.llen(readyKey(q.prefix, queue));
      });
      expect({ queue, onReplica }).toEqual({ queue, onReplica: 1501 });
    }
  });
}
