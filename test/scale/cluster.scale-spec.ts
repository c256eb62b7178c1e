import { ChildScript } from '../support/child.js';
import { uniquePrefix } from '../support/helpers.js';
import { commandCalls, until, withNode } from './support/admin.js';
import { QueueClusterModule } from '../../examples/scaling/cluster.module.js';
import { closeAll, exampleRunsJobs, ScaleApp, startApp } from './support/apps.js';
import { TestCluster } from './support/cluster.js';
import { coreBehaviours, QUEUES } from './support/core-behaviours.js';
import { describeFigures, killPrimaryUnderLoad, killPrimaryWithLaggingReplica } from './support/failover.js';
import { Report } from './support/report.js';

const report = new Report('Redis Cluster: failover and load spread');

describe('Redis Cluster (3 primaries, 3 replicas)', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await TestCluster.start({ primaries: 3, replicasPerPrimary: 1, nodeTimeout: 1000 });
  }, 60_000);
  afterAll(async () => {
    report.print();
    await cluster?.stop();
  });

  describe('core behaviours', () => coreBehaviours(() => cluster));

  it('the documented configuration (examples/scaling/cluster.module.ts) runs jobs', async () => {
    await exampleRunsJobs(QueueClusterModule, {
      REDIS_CLUSTER_NODES: cluster.seeds.slice(0, 2).map((s) => `${s.host}:${s.port}`).join(','),
      QUEUE_PREFIX: uniquePrefix('docs'),
    });
  });

  describe('failover: the primary of a queue\'s slot is SIGKILLed', () => {
    // One queue per primary: "email", "sms" and "push" hash to slots of three different primaries.
    const queues = ['email', 'sms', 'push'];

    it('under load, without waitForReplicas: workers reconnect and keep processing; losses are measured', async () => {
      const f = await killPrimaryUnderLoad(cluster, { queues, killQueue: 'email', label: 'primary SIGKILLed under load' });
      report.add(describeFigures('cluster', f));
      expect(f.recoveredMs).toBeDefined();
      expect(f.idleWakeMs).toBeLessThan(5000);
      expect(f.hungBlockingCalls).toBe(0);
    });

    it('under load, with waitForReplicas: 1: no acknowledged job is lost', async () => {
      const f = await killPrimaryUnderLoad(cluster, {
        queues,
        killQueue: 'email',
        waitForReplicas: { replicas: 1, timeout: 1000 },
        label: 'primary SIGKILLed under load',
      });
      report.add(describeFigures('cluster', f));
      expect(f.lost).toBe(0);
      expect(f.recoveredMs).toBeDefined();
      expect(f.idleWakeMs).toBeLessThan(5000);
      expect(f.hungBlockingCalls).toBe(0);
    });

    it('frozen (SIGSTOP, sockets stay open) under load: producers and workers move to the new primary by themselves', async () => {
      const f = await killPrimaryUnderLoad(cluster, { queues, killQueue: 'email', failure: 'freeze', label: 'primary frozen under load' });
      report.add(describeFigures('cluster', f));
      expect(f.recoveredMs).toBeDefined();
      expect(f.idleWakeMs).toBeLessThan(5000);
    });

    it('with a lagging replica, without waitForReplicas: jobs acknowledged during the lag are lost', async () => {
      const f = await killPrimaryWithLaggingReplica(cluster, { queue: 'sms', label: 'primary SIGKILLed while its replica lags' });
      report.add(describeFigures('cluster', f));
      expect(f.lost).toBeGreaterThan(0);
    });

    it('with a lagging replica, with waitForReplicas: 1: nothing acknowledged is lost', async () => {
      const f = await killPrimaryWithLaggingReplica(cluster, {
        queue: 'sms',
        waitForReplicas: { replicas: 1, timeout: 300 },
        label: 'primary SIGKILLed while its replica lags',
      });
      report.add(describeFigures('cluster', f));
      expect(f.lost).toBe(0);
      expect(f.rejected.ReplicationTimeoutError).toBeGreaterThan(0);
    });
  });
  describe('many worker processes', () => {
    it('4 worker processes on 8 queues: every job runs once, and the load spreads over the 3 primaries', async () => {
      const prefix = uniquePrefix('many');
      const owner = new Map<string, number>();
      for (const queue of QUEUES) owner.set(queue, (await cluster.primaryFor(queue)).port);
      const primaries = (await cluster.primaries()).map((p) => p.port);
      expect(new Set(owner.values()).size).toBe(3); // the eight queue names hash to all three primaries

      const processes = 4;
      const perQueue = 2500;
      const children = Array.from({ length: processes }, () =>
        ChildScript.start('test/scale/fixtures/scale-worker.ts', {
          RQ_CONNECTION: JSON.stringify(cluster.connection()),
          RQ_PREFIX: prefix,
          RQ_QUEUES: QUEUES.join(','),
          RQ_MODE: 'work',
          RQ_CONCURRENCY: '50',
          RQ_LEASE_MS: '30000',
        }),
      );
      let producer: ScaleApp | undefined;
      try {
        await Promise.all(children.map((c) => c.waitForLine(/^ready$/, 90_000)));
        producer = await startApp({ connection: cluster.connection(), prefix, consumers: false });
        const before = await Promise.all(primaries.map((port) => commandCalls(port)));
        const began = Date.now();
        await Promise.all(
          QUEUES.map(async (queue) => {
            for (let from = 0; from < perQueue; from += 500) {
              await producer!.producer.enqueueMany(queue, Array.from({ length: 500 }, (_, i) => ({ payload: { n: from + i } })));
            }
          }),
        );

        // Every job reported by exactly one process, exactly once.
        const runs = new Map<string, number>();
        const perProcess = children.map(() => 0);
        const read = children.map(() => 0);
        const collect = () => {
          children.forEach((child, p) => {
            for (; read[p] < child.lines.length; read[p]++) {
              const [word, queue, ...ns] = child.lines[read[p]].split(' ');
              if (word !== 'done') continue;
              for (const n of ns) runs.set(`${queue}:${n}`, (runs.get(`${queue}:${n}`) ?? 0) + 1);
              perProcess[p] += ns.length;
            }
          });
          return runs.size === QUEUES.length * perQueue;
        };
        await until(collect, 120_000, `${QUEUES.length * perQueue} jobs to run`, 100);
        const took = Date.now() - began;
        const after = await Promise.all(primaries.map((port) => commandCalls(port)));
        expect([...runs].filter(([, count]) => count !== 1)).toEqual([]);

        // Load per primary: commands executed (INFO commandstats calls, scripts' inner commands included).
        const calls = primaries.map((_, i) => {
          let total = 0;
          for (const [command, count] of after[i]) {
            if (command === 'info' || command === 'client|list' || command.startsWith('cluster')) continue; // probes
            total += count - (before[i].get(command) ?? 0);
          }
          return total;
        });
        const evalsha = primaries.map((_, i) => (after[i].get('evalsha') ?? 0) - (before[i].get('evalsha') ?? 0));
        const sum = calls.reduce((a, b) => a + b, 0);
        const connections = await Promise.all(
          cluster.servers.map((s) =>
            withNode(s.port, async (r) => ((await r.client('LIST')) as string).split('\n').filter((l) => l.includes(` name=${prefix}:`)).length),
          ),
        );
        report.add(
          `4 processes x 8 queues: ${runs.size} jobs in ${took} ms (${Math.round((runs.size / took) * 1000)} jobs/s), ` +
            `0 duplicates; jobs per process ${perProcess.join(' / ')}`,
        );
        primaries.forEach((port, i) => {
          const queues = QUEUES.filter((q) => owner.get(q) === port);
          report.add(
            `primary :${port} (${queues.join(', ')}): ${calls[i]} commands (${Math.round((calls[i] / sum) * 100)}%), ${evalsha[i]} EVALSHA`,
          );
        });
        report.add(
          `client connections named ${prefix}:* per node: ${cluster.servers.map((s, i) => `:${s.port}=${connections[i]}`).join(' ')} ` +
            `(${connections.reduce((a, b) => a + b, 0)} in all, for ${processes} worker processes and 1 producer app)`,
        );
        for (let i = 0; i < primaries.length; i++) {
          const queues = QUEUES.filter((q) => owner.get(q) === primaries[i]).length;
          expect({ port: primaries[i], share: calls[i] / sum > (queues / QUEUES.length) * 0.5 }).toEqual({ port: primaries[i], share: true });
        }
        expect(perProcess.every((count) => count > 0)).toBe(true);
      } finally {
        await closeAll([producer]);
        await Promise.all(
          children.map(async (child) => {
            let timer: NodeJS.Timeout | undefined;
            const exited = await Promise.race([child.kill('SIGTERM'), new Promise((r) => (timer = setTimeout(() => r('timeout'), 10_000)))]);
            clearTimeout(timer);
            if (exited === 'timeout') await child.kill('SIGKILL');
          }),
        );
      }
    });
  });
});
