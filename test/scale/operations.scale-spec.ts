// The operations parts on Redis Cluster, where each queue's keys live on the primary of its slot: the
// metrics' one-read-per-scrape counts, the health thresholds, the dashboard's snapshot and actions, the
// activity log (a registry key outside every queue) and the rq CLI with --cluster.
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Registry } from 'prom-client';
import { PermanentJobError, QueueHandler, QueueProducer, RedisQueueHealthIndicator, RedisQueueMetricsModule, RedisQueueModule } from 'nestjs-redis-queue';
import { RedisQueueDashboardModule } from 'nestjs-redis-queue/dashboard';
import { rq } from '../support/cli.js';
import { uniquePrefix, waitFor } from '../support/helpers.js';
import { TestCluster } from './support/cluster.js';

// "email", "sms" and "push" hash to slots of three different primaries.
const QUEUES = ['email', 'sms', 'push'];

@Injectable()
class Failing {
  @QueueHandler('email', { attempts: 1 })
  async send(): Promise<void> {
    throw new PermanentJobError('550 mailbox unavailable');
  }
}

describe('operations on Redis Cluster (3 primaries)', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await TestCluster.start({ primaries: 3, replicasPerPrimary: 0, nodeTimeout: 1000 });
  }, 60_000);
  afterAll(() => cluster?.stop());

  it('scrapes counts, checks thresholds, serves the dashboard and runs rq across the primaries', async () => {
    const prefix = uniquePrefix('ops');
    const registry = new Registry();
    @Module({
      imports: [
        RedisQueueModule.forRoot({ connection: cluster.connection(), prefix, checkRedisConfig: false }),
        RedisQueueMetricsModule.forRoot({ registry }),
        RedisQueueDashboardModule.forRoot({ path: 'queues' }),
      ],
      providers: [Failing],
    })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: ['error'] });
    await app.listen(0, '127.0.0.1');
    try {
      const producer = app.get(QueueProducer);
      await producer.enqueue('email', { to: 'nobody@example.com' });
      await producer.enqueueMany('sms', [{ payload: { n: 1 } }, { payload: { n: 2 } }]);
      await producer.enqueue('push', { n: 1 }, { delay: 3_600_000 });

      const scrape = async () => registry.metrics();
      await waitFor(async () => (await scrape()).includes('rq_queue_jobs{queue="email",state="dead"} 1'), 15_000, 'the dead email job in a scrape');
      const text = await scrape();
      expect(text).toContain('rq_queue_jobs{queue="sms",state="ready"} 2');
      expect(text).toContain('rq_queue_jobs{queue="push",state="delayed"} 1');

      const health = await app.get(RedisQueueHealthIndicator).isHealthy('q', { queues: { email: { maxDead: 0 }, sms: { maxReadyAge: 3_600_000 } } });
      expect(health.q).toMatchObject({ status: 'down', reason: 'queue "email": 1 dead jobs (threshold 0)', queues: { sms: { ready: 2 } } });
      expect(health.q.queues?.sms.oldestReadyAge).toBeGreaterThanOrEqual(0);

      const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/queues`;
      const snapshot = (await (await fetch(`${base}/api/snapshot`)).json()) as { queues: Array<{ queue: string }> };
      expect(snapshot.queues.map((q) => q.queue).sort()).toEqual([...QUEUES].sort());
      const paused = await fetch(`${base}/api/queues/sms/pause`, { method: 'POST', headers: { 'x-rq-dashboard': '1', 'content-type': 'application/json' }, body: '{}' });
      expect(paused.status).toBe(200);
      const activity = (await (await fetch(`${base}/api/activity`)).json()) as Array<{ action: string; queue: string }>;
      expect(activity[0]).toMatchObject({ action: 'pause', queue: 'sms' });

      const env = { RQ_CLUSTER: cluster.seeds.map((s) => `${s.host}:${s.port}`).join(','), RQ_PREFIX: prefix };
      const status = await rq(['status', '--json'], env);
      expect(status.code).toBe(0);
      const rows = JSON.parse(status.stdout) as Array<{ queue: string; ready: number; delayed: number; dead: number; paused: boolean }>;
      expect(rows.find((r) => r.queue === 'sms')).toMatchObject({ ready: 2, paused: true });
      expect(rows.find((r) => r.queue === 'email')).toMatchObject({ dead: 1 });
      expect((await rq(['dead', 'email', '--json'], env)).stdout).toContain('550 mailbox unavailable');
      expect((await rq(['resume', 'sms'], env)).stdout).toBe('resumed queue "sms"\n');
    } finally {
      await app.close();
    }
  });
});
