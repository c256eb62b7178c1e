import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { QueueProducer, RedisQueueModule } from 'nestjs-redis-queue';
import { RedisQueueDashboardModule } from 'nestjs-redis-queue/dashboard';
import { deletePrefixKeys } from 'nestjs-redis-queue/testing';

const run = promisify(execFile);

// The operations parts as installed: the dashboard subpath with its assets, and the rq command. This app
// has none of the optional integrations (prom-client, @nestjs/terminus, @opentelemetry/api).
describe('operations', () => {
  const prefix = `operations-test-${process.pid}`;

  afterAll(() => deletePrefixKeys(process.env.REDIS_URL!, prefix));

  it('serves the dashboard from the installed package', async () => {
    @Module({
      imports: [
        RedisQueueModule.forRoot({ connection: process.env.REDIS_URL!, prefix, checkRedisConfig: false }),
        RedisQueueDashboardModule.forRoot({ path: 'queues' }),
      ],
    })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    try {
      const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/queues`;
      await app.get(QueueProducer).enqueue('reports', { account: 'acme' });
      const page = await fetch(base);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<base href="/queues/">');
      expect((await fetch(`${base}/assets/app.js`)).headers.get('content-type')).toMatch(/^text\/javascript/);
      const snapshot = (await (await fetch(`${base}/api/snapshot`)).json()) as { queues: Array<{ queue: string; counts: { ready: number } }> };
      expect(snapshot.queues).toEqual([expect.objectContaining({ queue: 'reports', counts: expect.objectContaining({ ready: 1 }) })]);
    } finally {
      await app.close();
    }
  });

  it('installs the rq command', async () => {
    const { stdout } = await run('node_modules/.bin/rq', ['--url', process.env.REDIS_URL!, '--prefix', prefix, 'status', '--json']);
    expect(JSON.parse(stdout)).toEqual([expect.objectContaining({ queue: 'reports' })]);
  });
});
