import { RedisQueueModuleOptions } from 'nestjs-redis-queue';
import { sleep, uniquePrefix } from '../../support/helpers.js';
import { pause, replicaOutputBuffer, until } from './admin.js';
import { captured, closeAll, handlerFor, ScaleApp, startApp } from './apps.js';
import type { Topology } from './topology.js';

/** What one failover did to the jobs. */
export interface FailoverFigures {
  scenario: string;
  waitForReplicas: boolean;
  /** Jobs whose enqueue resolved (acknowledged to the producer). */
  acked: number;
  /** Acknowledged jobs that never ran: gone with the dead primary. */
  lost: number;
  /** Extra runs of acknowledged jobs (at-least-once: lost acks and claims run again). */
  duplicates: number;
  /** Enqueues that rejected (not acknowledged: the caller knows to retry), by error name. */
  rejected: Record<string, number>;
  /** ms from the kill until another server was primary for the queue's keys and took writes. */
  failoverMs: number;
  /** ms from the kill until a job enqueued after it was handled (on the killed primary's queue). */
  recoveredMs?: number;
  /** ms from the kill until an enqueue begun after it, on the killed primary's queue, was acknowledged. */
  writesBackMs?: number;
  /** After the failover, how long an idle worker took to run a new job on each queue (its blocking wait works). */
  idleWakeMs?: number;
  /** Blocking connections the worker's watchdog had to reconnect because their call hung. */
  hungBlockingCalls?: number;
  /** Generated job ids handed out again after the failover (the id counter went back with the lost writes). */
  reusedIds: number;
}

/** How a rejection is counted: the error's name, plus its message when it is a bare Error. */
function rejection(error: unknown): string {
  const e = error as Error;
  return e.name === 'Error' ? `Error("${e.message.slice(0, 80)}")` : e.name;
}

interface Ack {
  queue: string;
  n: number;
  id: string;
}

/**
 * Producers and workers run on several queues while the primary holding `killQueue` fails: SIGKILLed
 * (`kill`: its sockets close), or frozen by SIGSTOP (`freeze`: a hung host or a network path that died
 * without a reset, where sockets stay open and just stop answering). Workers must reconnect by themselves
 * and keep processing, with no call left hanging. A killed server is restarted after the failover (it
 * rejoins as a replica, so waitForReplicas can be met again); a frozen one stays frozen until the clients
 * have recovered without its help, then is killed and restarted. Returns what happened to every
 * acknowledged job.
 */
export async function killPrimaryUnderLoad(
  topology: Topology,
  settings: {
    queues: string[];
    killQueue: string;
    waitForReplicas?: RedisQueueModuleOptions['waitForReplicas'];
    failure?: 'kill' | 'freeze';
    label: string;
  },
): Promise<FailoverFigures> {
  const { queues, killQueue } = settings;
  const prefix = uniquePrefix('failover');
  const runs = new Map<string, number>();
  const ranAt = new Map<string, number>();
  /** Per worker app: jobs of killQueue it ran after the failover. */
  const afterFailover = [0, 0];
  let failedOverAt = Number.POSITIVE_INFINITY;
  let producing = true;
  let thaw: (() => void) | undefined;
  let healing: Promise<void> | undefined;
  const apps: ScaleApp[] = [];
  const logged = captured.since();
  try {
    for (const w of [0, 1]) {
      const handlers = queues.map((queue) =>
        handlerFor(
          queue,
          async (payload) => {
            await sleep(2); // jobs are in flight when the primary dies
            const key = `${queue}:${(payload as { n: number }).n}`;
            runs.set(key, (runs.get(key) ?? 0) + 1);
            if (!ranAt.has(key)) ranAt.set(key, Date.now());
            if (queue === killQueue && Date.now() > failedOverAt) afterFailover[w]++;
          },
          { concurrency: 8 },
        ),
      );
      apps.push(await startApp({ connection: topology.connection(), prefix, leaseDuration: 2000 }, handlers));
    }
    const producer = await startApp({
      connection: topology.connection(),
      prefix,
      consumers: false,
      commandTimeout: 2000,
      waitForReplicas: settings.waitForReplicas,
    });
    apps.push(producer);

    const acked: Ack[] = [];
    const ackedAt = new Map<string, number>();
    const sentAt = new Map<string, number>();
    const rejected: Record<string, number> = {};
    let next = 0;
    const loop = async (queue: string) => {
      while (producing) {
        const n = next++;
        sentAt.set(`${queue}:${n}`, Date.now());
        try {
          const id = await producer.producer.enqueue(queue, { n });
          acked.push({ queue, n, id });
          ackedAt.set(`${queue}:${n}`, Date.now());
        } catch (error) {
          const name = rejection(error);
          rejected[name] = (rejected[name] ?? 0) + 1;
          await sleep(50);
        }
        await sleep(4);
      }
    };
    const loops = queues.flatMap((queue) => [loop(queue), loop(queue)]);

    await sleep(1500);
    const old = await topology.primaryFor(killQueue);
    const idsBefore = new Set(acked.filter((a) => a.queue === killQueue).map((a) => a.id));
    const frozen = settings.failure === 'freeze';
    if (frozen) thaw = pause(old.pid);
    else await old.kill('SIGKILL');
    const killedAt = Date.now();
    await topology.waitForNewPrimary(killQueue, old, 30_000);
    failedOverAt = Date.now();
    const failoverMs = failedOverAt - killedAt;
    // The dead server comes back (as a replica) while the load goes on, as an operator would restart it.
    if (!frozen) healing = topology.heal();
    healing?.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled

    // Keep the load on until a job enqueued after the kill has run on the killed queue, and both workers
    // have run jobs of that queue again, and a bit longer.
    const ranAfterKill = () =>
      acked.some((a) => a.queue === killQueue && sentAt.get(`${a.queue}:${a.n}`)! > killedAt && ranAt.has(`${a.queue}:${a.n}`));
    try {
      await until(
        () => ranAfterKill() && afterFailover.every((count) => count > 0),
        30_000,
        'a job enqueued after the kill to run, and both worker apps to run jobs of the killed queue again',
      );
    } finally {
      if (thaw) {
        await old.kill('SIGKILL'); // a frozen process dies at once, without ever answering again
        thaw();
        thaw = undefined;
        healing = topology.heal();
        healing.catch(() => undefined);
      }
    }
    await sleep(1000);
    producing = false;
    await Promise.all(loops);
    await healing;
    healing = undefined;

    // Drain: every acknowledged job runs, including claims whose lease was lost with the primary. Done
    // when nothing is missing, or when the queues have stayed empty for a second (the rest is lost).
    const missing = () => acked.filter((a) => !runs.has(`${a.queue}:${a.n}`));
    await until(
      async () => {
        if (missing().length === 0) return true;
        const empty = async () =>
          (await Promise.all(queues.map((queue) => producer.inspector.counts(queue)))).every((c) => c.ready + c.delayed + c.active === 0);
        return (await empty()) && (await sleep(1000), await empty());
      },
      30_000,
      'the queues to drain',
    );

    // Idle wake-up: with the workers blocked in their idle wait, a new job on each queue runs promptly.
    await sleep(1200);
    const probeAt = Date.now();
    const probes = queues.map((queue) => ({ queue, n: next++ }));
    await Promise.all(probes.map((p) => producer.producer.enqueue(p.queue, { n: p.n })));
    await until(() => probes.every((p) => runs.has(`${p.queue}:${p.n}`)), 15_000, 'a new job on every queue to run');
    const idleWakeMs = Date.now() - probeAt;

    // Jobs of the failed primary's queue whose enqueue began after the failure.
    const afterKill = acked.filter((a) => a.queue === killQueue && sentAt.get(`${a.queue}:${a.n}`)! > killedAt);
    const firstRun = afterKill.map((a) => ranAt.get(`${a.queue}:${a.n}`)).filter((t): t is number => t !== undefined);
    const reusedIds = afterKill.filter((a) => idsBefore.has(a.id)).length;
    expect(logged().filter((l) => /CROSSSLOT/i.test(l))).toEqual([]);
    return {
      scenario: settings.label,
      waitForReplicas: settings.waitForReplicas !== undefined,
      acked: acked.length,
      lost: missing().length,
      duplicates: [...runs.values()].reduce((sum, count) => sum + count - 1, 0),
      rejected,
      failoverMs,
      writesBackMs: afterKill.length > 0 ? Math.min(...afterKill.map((a) => ackedAt.get(`${a.queue}:${a.n}`)!)) - killedAt : undefined,
      recoveredMs: firstRun.length > 0 ? Math.min(...firstRun) - killedAt : undefined,
      idleWakeMs,
      hungBlockingCalls: logged().filter((l) => l.includes('blocking connection stopped answering')).length,
      reusedIds,
    };
  } finally {
    producing = false;
    thaw?.();
    await healing?.catch(() => undefined); // never leave a restart running into the next test or the teardown
    await closeAll(apps);
  }
}

/**
 * The case asynchronous replication loses jobs in: the replica has fallen behind (here it is stopped,
 * as by a long GC pause or an overloaded host, while a burst of writes fills the primary's replication
 * buffer beyond what the kernel's socket buffers hold) when the primary dies. Jobs acknowledged during
 * the lag exist only on the primary. With `waitForReplicas`, enqueue does not resolve during the lag, so
 * nothing acknowledged can be lost. Workers start after the failover, on the promoted replica.
 */
export async function killPrimaryWithLaggingReplica(
  topology: Topology,
  settings: { queue: string; waitForReplicas?: RedisQueueModuleOptions['waitForReplicas']; label: string },
): Promise<FailoverFigures> {
  const { queue } = settings;
  const prefix = uniquePrefix('lag');
  const apps: ScaleApp[] = [];
  const runs = new Map<number, number>();
  try {
    const producer = await startApp({
      connection: topology.connection(),
      prefix,
      consumers: false,
      commandTimeout: 2000,
      waitForReplicas: settings.waitForReplicas,
    });
    // Bulk writes of another app (other prefix, same queue: same slot, same primary), without WAIT.
    const bulk = await startApp({ connection: topology.connection(), consumers: false, commandTimeout: 5000 });
    apps.push(producer, bulk);

    const acked: Ack[] = [];
    const rejected: Record<string, number> = {};
    let next = 0;
    const enqueueOne = async () => {
      const n = next++;
      try {
        acked.push({ queue, n, id: await producer.producer.enqueue(queue, { n }) });
      } catch (error) {
        const name = rejection(error);
        rejected[name] = (rejected[name] ?? 0) + 1;
      }
    };
    for (let i = 0; i < 50; i++) await enqueueOne(); // before the lag: replicated normally

    const primary = await topology.primaryFor(queue);
    const replica = await topology.replicaFor(queue);
    const ackedBeforeLag = acked.length;
    const resume = pause(replica.pid);
    let killedAt: number;
    try {
      const blob = 'x'.repeat(1024);
      let written = 0;
      while ((await replicaOutputBuffer(primary.port)) < 1024 * 1024) {
        if (written > 128 * 1024 * 1024) throw new Error('the replication buffer never filled');
        await bulk.producer.enqueueMany(queue, Array.from({ length: 500 }, () => ({ payload: blob })));
        written += 500 * 1024;
      }
      // The replica is a megabyte behind and not reading: jobs acknowledged now live on the primary only.
      const lagEnds = Date.now() + 400;
      await Promise.all(
        [0, 1, 2, 3].map(async () => {
          while (Date.now() < lagEnds) await enqueueOne();
        }),
      );
      await primary.kill('SIGKILL');
      killedAt = Date.now();
    } finally {
      resume();
    }
    const ackedDuringLag = acked.length - ackedBeforeLag;
    const idsBefore = new Set(acked.map((a) => a.id));
    await topology.waitForNewPrimary(queue, primary, 30_000);
    const failoverMs = Date.now() - killedAt;

    // After the failover: new jobs (their ids come from the promoted replica's counter), then workers.
    const afterFailover: Ack[] = [];
    for (let i = 0; i < 20; i++) {
      const n = next++;
      afterFailover.push({ queue, n, id: await producer.producer.enqueue(queue, { n }).catch(() => '') });
    }
    const reusedIds = afterFailover.filter((a) => a.id !== '' && idsBefore.has(a.id)).length;
    const worker = await startApp({ connection: topology.connection(), prefix, leaseDuration: 2000 }, [
      handlerFor(queue, (payload) => void runs.set((payload as { n: number }).n, (runs.get((payload as { n: number }).n) ?? 0) + 1), {
        concurrency: 50,
      }),
    ]);
    apps.push(worker);
    await until(async () => {
      const c = await worker.inspector.counts(queue);
      return c.ready + c.active + c.delayed === 0;
    }, 30_000, 'the queue to drain');
    await topology.heal();
    return {
      scenario: `${settings.label} (${ackedDuringLag} acked during the lag)`,
      waitForReplicas: settings.waitForReplicas !== undefined,
      acked: acked.length,
      lost: acked.filter((a) => !runs.has(a.n)).length,
      duplicates: [...runs.values()].reduce((sum, count) => sum + count - 1, 0),
      rejected,
      failoverMs,
      reusedIds,
    };
  } finally {
    await closeAll(apps);
  }
}

/** One line per scenario, for the run's summary. */
export function describeFigures(kind: string, f: FailoverFigures): string {
  const rejected = Object.entries(f.rejected)
    .map(([name, count]) => `${count} ${name}`)
    .join(', ');
  return (
    `${kind} | ${f.scenario} | waitForReplicas ${f.waitForReplicas ? 'on ' : 'off'} | acked ${f.acked} | lost ${f.lost} | ` +
    `duplicates ${f.duplicates} | rejected ${rejected || '0'} | failover ${f.failoverMs} ms` +
    (f.writesBackMs !== undefined ? ` | writes back after ${f.writesBackMs} ms` : '') +
    (f.recoveredMs !== undefined ? ` | first post-kill job run after ${f.recoveredMs} ms` : '') +
    (f.idleWakeMs !== undefined ? ` | idle wake ${f.idleWakeMs} ms` : '') +
    (f.hungBlockingCalls !== undefined ? ` | hung blocking calls ${f.hungBlockingCalls}` : '') +
    ` | ids reused ${f.reusedIds}`
  );
}
