import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { InvalidPayloadError, QueueInspector } from 'nestjs-redis-queue';
import { ReportsModule } from '../examples/typed-queues/app.module.js';
import { AuditQueue, ReportQueue } from '../examples/typed-queues/queues.js';
import { ReportOutbox } from '../examples/typed-queues/report.outbox.js';
import { ReportsService } from '../examples/typed-queues/reports.service.js';
import { uniquePrefix, waitFor } from './support/helpers.js';

describe('typed queues example (README)', () => {
  let app: INestApplicationContext;
  const env = { QUEUE_PREFIX: uniquePrefix('reports'), QUEUES: 'reports', REPORTS_CONCURRENCY: '4' };

  beforeAll(async () => {
    Object.assign(process.env, env);
    const moduleRef = await Test.createTestingModule({ imports: [ReportsModule] }).compile();
    app = await moduleRef.init();
  });

  afterAll(async () => {
    await app.close();
    for (const key of Object.keys(env)) delete process.env[key];
  });

  it('builds a valid report request with the schema defaults, and rejects an invalid one at enqueue', async () => {
    const reports = app.get(ReportsService);
    const id = await reports.request('2026-11', ['ada@example.com']);
    const outbox = app.get(ReportOutbox);
    await waitFor(() => outbox.sent.length > 0, 10_000, 'the report');
    expect(outbox.sent).toEqual([{ to: ['ada@example.com'], file: 'report-2026-11.pdf', ref: id }]);

    const error = await reports.request('November', []).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect((error as InvalidPayloadError).problems).toEqual([
      { path: 'month', problem: 'must look like 2026-11' },
      { path: 'recipients', problem: 'Invalid length: Expected >=1 but received 0' },
    ]);
  });

  it('produces to every queue but runs only the queues QUEUES lists', async () => {
    await app.get(ReportsService).audit('ada', 'exported');
    // No audit handler runs in this deployment: the job waits for one that lists "audit".
    expect(await app.get(QueueInspector).counts(AuditQueue)).toMatchObject({ ready: 1 });
    expect(await app.get(QueueInspector).counts(ReportQueue)).toMatchObject({ ready: 0, dead: 0 });
  });
});
