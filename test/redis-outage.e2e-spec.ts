import { Injectable } from '@nestjs/common';
import { JobContext, QueueHandler, RedisUnavailableError } from 'nestjs-redis-queue';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { sleep, uniquePrefix, waitFor } from './support/helpers.js';
import { startQueueApp } from './support/queue-app.js';

const done: string[] = [];

@Injectable()
class Handlers {
  @QueueHandler('email')
  async send(payload: { to: string }, _job: JobContext) {
    done.push(payload.to);
  }
}

describe('Redis outages', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await RedisServer.start({ appendonly: true });
  });
  afterAll(() => server.stop());

  it('a running worker survives a Redis restart and processes jobs enqueued afterwards', async () => {
    const q = await startQueueApp([Handlers], { connection: server.url, prefix: uniquePrefix(), commandTimeout: 3000 });
    await q.producer.enqueue('email', { to: 'before' });
    await waitFor(() => done.includes('before'), 5000, 'the first job');

    // A job stored (and fsynced by AOF) but not yet run when Redis dies must survive the restart too.
    await q.producer.enqueue('email', { to: 'waiting' }, { delay: 1500 });
    await sleep(1100); // appendfsync everysec
    await server.kill('SIGKILL');
    await sleep(300);
    await server.restart();

    const id = await q.producer.enqueue('email', { to: 'after' });
    expect(id).toBeTruthy();
    await waitFor(() => done.includes('after') && done.includes('waiting'), 15_000, 'jobs after the restart');
    await q.close();
  });

  it('enqueue rejects within the configured time while Redis is unreachable, and works again after', async () => {
    const q = await startQueueApp([], { connection: server.url, prefix: uniquePrefix(), consumers: false, commandTimeout: 500 });
    await q.producer.enqueue('email', { to: 'warm-up' });
    await server.kill('SIGKILL');
    const began = Date.now();
    const error = await q.producer.enqueue('email', { to: 'lost?' }).catch((e: unknown) => e);
    const took = Date.now() - began;
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect((error as Error).message).toMatch(/unreachable|did not confirm|could not send/);
    // It rejects instead of hanging: bounded by commandTimeout (500 ms). The bound here is only a guard
    // against hanging, generous for a loaded CI machine; the time itself is not what is tested.
    expect(took).toBeLessThan(30_000);
    await server.restart();
    await waitFor(() => q.producer.enqueue('email', { to: 'back' }).then(Boolean, () => false), 10_000, 'enqueue to work again');
    await q.close();
  });
});
