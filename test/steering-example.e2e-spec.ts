import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { QueueAdmin, QueueHandler, RedisQueueModule } from 'nestjs-redis-queue';
import { Injectable } from '@nestjs/common';
import request from 'supertest';
import { Maintenance } from '../examples/steering/maintenance.js';
import { OrdersService } from '../examples/steering/orders.service.js';
import { ReportHandlers, ReportNotifier, ReportsController } from '../examples/steering/reports.js';
import { startQueueApp } from './support/queue-app.js';
import { redisUrl, uniquePrefix, waitFor } from './support/helpers.js';

const emails: string[] = [];
@Injectable()
class EmailHandlers {
  @QueueHandler('email')
  async send(payload: { to: string }) {
    emails.push(payload.to);
  }
}

describe('finding and steering jobs (README examples)', () => {
  const prefix = uniquePrefix('steer-readme');
  let api: INestApplication;
  let worker: Awaited<ReturnType<typeof startQueueApp>>;

  beforeAll(async () => {
    // The worker app runs the handlers; the API app only produces, inspects and listens to events.
    worker = await startQueueApp([ReportHandlers, EmailHandlers], { prefix });
    const moduleRef = await Test.createTestingModule({
      imports: [RedisQueueModule.forRoot({ connection: redisUrl(), prefix, consumers: false, checkRedisConfig: false })],
      controllers: [ReportsController],
      providers: [ReportNotifier, OrdersService, Maintenance],
    }).compile();
    api = moduleRef.createNestApplication();
    await api.init();
  });

  afterAll(async () => {
    await api.close();
    await worker.close();
  });

  it('tracks a report from request to result, and hears its completion in the API app', async () => {
    const { body } = await request(api.getHttpServer()).post('/reports/2026-11').expect(201);
    const result = await request(api.getHttpServer()).get(`/reports/${body.id}/wait`).expect(200);
    expect(result.body).toEqual({ url: '/reports/2026-11.pdf' });
    const status = await request(api.getHttpServer()).get(`/reports/${body.id}`).expect(200);
    expect(status.body).toEqual({ state: 'completed', progress: 100, result: { url: '/reports/2026-11.pdf' } });
    const notifier = api.get(ReportNotifier);
    await waitFor(() => notifier.done.some((e) => e.id === body.id), 20_000, 'the completed event');
    expect(notifier.done.find((e) => e.id === body.id)?.result).toEqual({ url: '/reports/2026-11.pdf' });
  });

  it('cancels the delayed expiry of an order once it is paid', async () => {
    const orders = api.get(OrdersService);
    await orders.placed('A-17');
    await orders.paid('A-17');
    const job = await worker.inspector.job('expire-order', 'expire-A-17');
    expect(job?.state).toBe('cancelled');
    expect((await worker.inspector.counts('expire-order')).delayed).toBe(0);
  });

  it('pauses a queue for every worker and retries its dead jobs after resuming', async () => {
    const maintenance = api.get(Maintenance);
    await maintenance.duringTheSmtpOutage();
    await worker.producer.enqueue('email', { to: 'paused@example.com' });
    expect((await maintenance.overview()).paused).toBe(true);
    expect(emails).not.toContain('paused@example.com');
    await maintenance.afterTheSmtpOutage();
    await waitFor(() => emails.includes('paused@example.com'), 20_000, 'the job after resume');
    const overview = await maintenance.overview();
    expect(overview.paused).toBe(false);
    expect(overview.workers.length).toBeGreaterThanOrEqual(1);
    expect(await api.get(QueueAdmin).workers()).toEqual(
      expect.arrayContaining([expect.objectContaining({ pid: process.pid, queues: expect.arrayContaining([{ queue: 'email', concurrency: 1 }]) })]),
    );
  });
});
