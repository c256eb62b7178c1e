import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { QueueProducer } from 'nestjs-redis-queue';
import { deletePrefixKeys } from 'nestjs-redis-queue/testing';
import { AppModule } from '../src/app.module.js';
import { ReportStore } from '../src/report.store.js';

describe('reports', () => {
  const prefix = `reports-test-${process.pid}`; // this file's keys, apart from other files'
  let app: INestApplicationContext;

  beforeAll(async () => {
    process.env.QUEUE_PREFIX = prefix; // REDIS_URL comes from the global setup
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = await moduleRef.init(); // starts the worker loops, as in the real app
  });

  afterAll(async () => {
    await app?.close();
    await deletePrefixKeys(process.env.REDIS_URL!, prefix); // leave nothing behind in Redis
  });

  it('builds the report of an enqueued request', async () => {
    const id = await app.get(QueueProducer).enqueue('reports', { account: 'acme' });
    const store = app.get(ReportStore);
    await vi.waitFor(() => expect(store.built.get('acme')).toBe(`report ${id}, attempt 1`), { timeout: 10_000 });
  });
});
