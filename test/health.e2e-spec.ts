import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import request from 'supertest';
import { JobContext, PermanentJobError, QueueHandler, RedisQueueHealthIndicator, RedisQueueModule } from 'nestjs-redis-queue';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { HealthController } from '../examples/operations/health.controller.js';
import { deferred, redisUrl, uniquePrefix, waitFor } from './support/helpers.js';
import { startQueueApp } from './support/queue-app.js';

const hold = { release: deferred() };
const started: string[] = [];

@Injectable()
class Handlers {
  @QueueHandler('health-jobs', { concurrency: 1 })
  async run(payload: { kind: 'hold' | 'fatal' | 'ok' }, job: JobContext) {
    started.push(`${job.queue}:${payload.kind}:${job.id}`);
    if (payload.kind === 'hold') await hold.release.promise;
    if (payload.kind === 'fatal') throw new PermanentJobError('broken for good');
  }
}

@Injectable()
class FailingEmail {
  @QueueHandler('email', { concurrency: 50 })
  async send(): Promise<void> {
    throw new PermanentJobError('mailbox unavailable');
  }
}

describe('RedisQueueHealthIndicator', () => {
  it('is up while Redis answers and the worker loops are alive', async () => {
    const q = await startQueueApp([Handlers]);
    try {
      const indicator = q.app.get(RedisQueueHealthIndicator);
      const result = await waitFor(async () => {
        const r = await indicator.isHealthy('queues');
        return r.queues.status === 'up' ? r : undefined;
      }, 10_000, 'up');
      expect(result.queues.workers).toEqual([expect.objectContaining({ queue: 'health-jobs', status: 'up', running: 0 })]);
      expect(result.queues.redisLatencyMs).toBeGreaterThanOrEqual(0);
    } finally {
      await q.close();
    }
  });

  it('reports thresholds crossed as down, naming the queue and the figure', async () => {
    const q = await startQueueApp([Handlers]);
    try {
      const indicator = q.app.get(RedisQueueHealthIndicator);
      // A backlog nobody runs (no handler here), and two dead jobs.
      await q.producer.enqueue('backlog', { n: 1 });
      await q.producer.enqueue('health-jobs', { kind: 'fatal' });
      await q.producer.enqueue('health-jobs', { kind: 'fatal' });
      await waitFor(async () => (await q.inspector.counts('health-jobs')).dead === 2, 10_000, 'two dead jobs');
      await waitFor(async () => ((await q.inspector.oldestReady('backlog'))?.waitingMs ?? 0) > 50, 10_000, 'the backlog to age');

      const fine = await indicator.isHealthy('q', { queues: { backlog: { maxReadyAge: 3_600_000 }, 'health-jobs': { maxDead: 2 } } });
      expect(fine.q).toMatchObject({ status: 'up', queues: { backlog: { ready: 1 }, 'health-jobs': { dead: 2 } } });

      const late = await indicator.isHealthy('q', { queues: { backlog: { maxReadyAge: 50 } } });
      expect(late.q.status).toBe('down');
      expect(late.q.reason).toMatch(/^queue "backlog": job 1 has waited \d+ ms to start \(threshold 50 ms\)$/);
      expect(late.q.queues?.backlog.oldestReadyAge).toBeGreaterThan(50);

      const dead = await indicator.isHealthy('q', { queues: { 'health-jobs': { maxDead: 1 } } });
      expect(dead.q).toMatchObject({ status: 'down', reason: 'queue "health-jobs": 2 dead jobs (threshold 1)' });

      await expect(indicator.isHealthy('q', { queues: { backlog: { maxDead: -1 } } })).rejects.toThrow('queues.backlog.maxDead');
    } finally {
      await q.close();
    }
  });

  it('reports Redis unreachable, the worker loop failing and leases not renewed, and comes back up', async () => {
    const server = await RedisServer.start();
    hold.release = deferred();
    const q = await startQueueApp([Handlers], { connection: server.url, leaseDuration: 1500, commandTimeout: 500 });
    try {
      const indicator = q.app.get(RedisQueueHealthIndicator);
      await waitFor(async () => (await indicator.isHealthy())['redis-queue'].status === 'up', 10_000, 'up');
      // A job holds the worker's only slot: the loop waits, only its lease renewals talk to Redis.
      const id = await q.producer.enqueue('health-jobs', { kind: 'hold' });
      await waitFor(() => started.includes(`health-jobs:hold:${id}`), 10_000, 'the job to start');
      await server.kill('SIGKILL');

      const renewals = await waitFor(async () => {
        const r = (await indicator.isHealthy())['redis-queue'];
        return r.problems?.some((p) => p.startsWith('lease renewals of queue "health-jobs"')) ? r : undefined;
      }, 30_000, 'renewals reported');
      expect(renewals.status).toBe('down');
      expect(renewals.reason).toMatch(/^Redis does not answer/);
      expect(renewals.workers).toEqual([expect.objectContaining({ queue: 'health-jobs', status: 'down', running: 1 })]);
      expect(renewals.problems).toContain(
        'worker of queue "health-jobs" is not subscribed to the queue\'s notifications (subscriber connection down): it hears of new jobs only by its timers',
      );

      // The job finishes: the loop's next round trip fails too.
      hold.release.resolve();
      const loop = await waitFor(async () => {
        const r = (await indicator.isHealthy())['redis-queue'];
        return r.problems?.some((p) => p.startsWith('worker loop of queue "health-jobs" cannot reach Redis')) ? r : undefined;
      }, 30_000, 'the loop reported');
      expect(loop.status).toBe('down');

      await server.restart();
      await waitFor(async () => {
        const r = (await indicator.isHealthy())['redis-queue'];
        return r.status === 'up';
      }, 30_000, 'up again');
    } finally {
      hold.release.resolve();
      await q.close();
      await server.stop();
    }
  });

  it('works with @nestjs/terminus: GET /health is 200, then 503 with the reason', async () => {
    const prefix = uniquePrefix('health');
    @Module({
      imports: [RedisQueueModule.forRoot({ connection: redisUrl(), prefix, checkRedisConfig: false }), TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController],
    })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false });
    await app.init();
    try {
      const ok = await request(app.getHttpServer()).get('/health').expect(200);
      expect(ok.body).toMatchObject({ status: 'ok', info: { queues: { status: 'up' } } });
      // 101 dead email jobs: over the example's threshold of 100.
      const q = await startQueueApp([FailingEmail], { prefix });
      await q.producer.enqueueMany('email', Array.from({ length: 101 }, (_, n) => ({ payload: { n } })));
      await waitFor(async () => (await q.inspector.counts('email')).dead === 101, 20_000, '101 dead jobs');
      await q.close();
      const down = await request(app.getHttpServer()).get('/health').expect(503);
      expect(down.body).toMatchObject({ status: 'error', error: { queues: { status: 'down', reason: 'queue "email": 101 dead jobs (threshold 100)' } } });
    } finally {
      await app.close();
    }
  });
});
