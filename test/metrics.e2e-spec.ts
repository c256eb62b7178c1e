import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Registry } from 'prom-client';
import {
  JobContext,
  PermanentJobError,
  QueueAdmin,
  QueueHandler,
  QueueInspector,
  QueueProducer,
  RedisQueueMetricsModule,
  RedisQueueModule,
} from 'nestjs-redis-queue';
import { ChildScript } from './support/child.js';
import { redisUrl, uniquePrefix, waitFor } from './support/helpers.js';
import { startQueueApp } from './support/queue-app.js';

const seen = new Map<string, number>();

@Injectable()
class Handlers {
  @QueueHandler('metered', { attempts: 3, backoff: { type: 'fixed', delay: 10 } })
  async run(payload: { kind: 'ok' | 'flaky' | 'fatal'; key: string }, job: JobContext) {
    seen.set(payload.key, job.attempt);
    if (payload.kind === 'flaky' && job.attempt === 1) throw new Error('first attempt fails');
    if (payload.kind === 'fatal') throw new PermanentJobError('never works');
  }
}

/** The value of one sample line of a scrape, e.g. `rq_jobs_completed_total{queue="metered"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('RedisQueueMetrics', () => {
  it('counts outcomes, times runs and waits, and reads counts, pause state and workers at each scrape', async () => {
    const registry = new Registry();
    const prefix = uniquePrefix('metrics');
    const moduleRef = await Test.createTestingModule({
      imports: [
        RedisQueueModule.forRoot({ connection: redisUrl(), prefix, checkRedisConfig: false }),
        RedisQueueMetricsModule.forRoot({ registry, prefix: 'rq_' }),
      ],
      providers: [Handlers],
    }).compile();
    const app = await moduleRef.init();
    const producer = app.get(QueueProducer);
    const inspector = app.get(QueueInspector);
    try {
      await producer.enqueue('metered', { kind: 'ok', key: 'a' });
      await producer.enqueue('metered', { kind: 'ok', key: 'b' });
      await producer.enqueue('metered', { kind: 'flaky', key: 'c' });
      await producer.enqueue('metered', { kind: 'fatal', key: 'd' });
      await producer.enqueue('metered', { kind: 'ok', key: 'later' }, { delay: 3_600_000 });
      await waitFor(async () => (await inspector.counts('metered')).dead === 1 && seen.get('c') === 2 && seen.has('b'), 10_000, 'jobs to settle');
      await waitFor(async () => (await registry.metrics()).includes('rq_jobs_completed_total{queue="metered"} 3'), 10_000, 'the counters');

      const text = await registry.metrics();
      expect(sample(text, 'rq_jobs_completed_total{queue="metered"}')).toBe(3);
      expect(sample(text, 'rq_jobs_failed_total{queue="metered"}')).toBe(2);
      expect(sample(text, 'rq_jobs_retried_total{queue="metered"}')).toBe(1);
      expect(sample(text, 'rq_jobs_dead_total{queue="metered"}')).toBe(1);
      expect(sample(text, 'rq_job_run_seconds_count{queue="metered",outcome="completed"}')).toBe(3);
      expect(sample(text, 'rq_job_run_seconds_count{queue="metered",outcome="retried"}')).toBe(1);
      expect(sample(text, 'rq_job_run_seconds_count{queue="metered",outcome="dead"}')).toBe(1);
      expect(sample(text, 'rq_job_wait_seconds_count{queue="metered"}')).toBe(5);
      expect(sample(text, 'rq_job_wait_seconds_sum{queue="metered"}')).toBeGreaterThanOrEqual(0);
      expect(sample(text, 'rq_queue_jobs{queue="metered",state="dead"}')).toBe(1);
      expect(sample(text, 'rq_queue_jobs{queue="metered",state="delayed"}')).toBe(1);
      expect(sample(text, 'rq_queue_jobs{queue="metered",state="ready"}')).toBe(0);
      expect(sample(text, 'rq_queue_paused{queue="metered"}')).toBe(0);
      await waitFor(async () => sample(await registry.metrics(), 'rq_workers_alive{queue="metered"}') === 1, 10_000, 'the worker heartbeat');
      expect(sample(await registry.metrics(), 'rq_worker_processes')).toBe(1);

      // Gauges are read at scrape time: a pause shows at the next scrape.
      await app.get(QueueAdmin).pause('metered');
      expect(sample(await registry.metrics(), 'rq_queue_paused{queue="metered"}')).toBe(1);
    } finally {
      await app.close();
    }
    // Closed: its metrics leave the registry (so that the next app of the process can register its own).
    expect(await registry.metrics()).not.toContain('rq_jobs_completed_total');
  });

  it('plugs into @willsoto/nestjs-prometheus: GET /metrics serves the queue metrics from the global registry', async () => {
    const prefix = uniquePrefix('metrics');
    const child = ChildScript.start('test/fixtures/metrics-app.ts', { REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix });
    const producer = await startQueueApp([], { prefix, consumers: false });
    try {
      const port = Number((await child.waitForLine(/^listening \d+/)).split(' ')[1]);
      await producer.producer.enqueue('metered', { n: 1 });
      await producer.producer.enqueue('metered', { n: 2 });
      const scrape = async () => {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`);
        expect(response.status).toBe(200);
        return response.text();
      };
      await waitFor(async () => sample(await scrape(), 'rq_jobs_completed_total{queue="metered"}') === 2, 15_000, 'the scrape');
      const text = await scrape();
      expect(text).toContain('# TYPE rq_job_run_seconds histogram');
      expect(sample(text, 'rq_job_wait_seconds_count{queue="metered"}')).toBe(2);
      expect(sample(text, 'rq_queue_jobs{queue="metered",state="ready"}')).toBe(0);
      expect(text).toMatch(/^process_cpu_seconds_total /m); // the module's default metrics, beside ours
    } finally {
      await producer.close();
      await child.kill('SIGTERM');
    }
  });
});
