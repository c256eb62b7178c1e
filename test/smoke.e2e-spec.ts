import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { JobContext, QueueHandler, QueueProducer, RedisQueueModule } from 'nestjs-redis-queue';
import { redisUrl, uniquePrefix, waitFor } from './support/helpers.js';

const seen: Array<{ payload: unknown; job: JobContext }> = [];

@Injectable()
class Handlers {
  @QueueHandler('email')
  async send(payload: { to: string }, job: JobContext) {
    seen.push({ payload, job });
  }
}

@Module({ imports: [RedisQueueModule.forRoot({ connection: redisUrl(), prefix: uniquePrefix() })], providers: [Handlers] })
class AppModule {}

it('smoke', async () => {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication();
  await app.init();
  const id = await app.get(QueueProducer).enqueue('email', { to: 'a@b.c' });
  await waitFor(() => seen.length === 1);
  expect(seen[0].payload).toEqual({ to: 'a@b.c' });
  expect(seen[0].job.id).toBe(id);
  await app.close();
});
