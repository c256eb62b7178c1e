import { Injectable } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import {
  defineQueue,
  InvalidOptionError,
  JobContext,
  QueueHandler,
  QueueInspector,
  QueueProducer,
  RedisQueueModule,
  RedisQueueModuleOptions,
} from 'nestjs-redis-queue';
import { deferred, rawClient, redisUrl, uniquePrefix, waitFor } from './support/helpers.js';

const ThumbQueue = defineQueue<{ n: number }>('thumbs');
const gate = deferred();
const state = { running: 0, maxRunning: 0, done: 0 };
const contexts: Record<string, { maxAttempts: number; attempt: number }[]> = {};

@Injectable()
class Handlers {
  // The code says one at a time and five attempts; the deployment says otherwise.
  @QueueHandler(ThumbQueue, { concurrency: 1, attempts: 5 })
  async thumb(_payload: { n: number }, job: JobContext) {
    (contexts.thumbs ??= []).push({ maxAttempts: job.maxAttempts, attempt: job.attempt });
    state.running++;
    state.maxRunning = Math.max(state.maxRunning, state.running);
    await gate.promise;
    state.running--;
    state.done++;
  }

  @QueueHandler('flaky', { attempts: 5, backoff: { type: 'exponential', delay: 60_000 } })
  async flaky(_payload: unknown, job: JobContext) {
    (contexts.flaky ??= []).push({ maxAttempts: job.maxAttempts, attempt: job.attempt });
    throw new Error('always fails');
  }

  @QueueHandler('mail')
  async mail(payload: { to: string }) {
    (contexts.mail ??= []).push({ maxAttempts: 0, attempt: 0 });
    return payload.to;
  }
}

async function boot(options: Partial<RedisQueueModuleOptions>, prefix = uniquePrefix()) {
  const moduleRef = await Test.createTestingModule({
    imports: [RedisQueueModule.forRoot({ connection: redisUrl(), checkRedisConfig: false, ...options, prefix })],
    providers: [Handlers],
  }).compile();
  const app = await moduleRef.init();
  return { app, prefix, producer: app.get(QueueProducer), inspector: app.get(QueueInspector) };
}

describe('deploy-time configuration', () => {
  it('applies `queues` overrides read from ConfigService over the decorator options', async () => {
    const prefix = uniquePrefix();
    const moduleRef = await Test.createTestingModule({
      imports: [
        RedisQueueModule.forRootAsync({
          imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ THUMBS_CONCURRENCY: '3', FLAKY_ATTEMPTS: '2' })] })],
          inject: [ConfigService],
          useFactory: (config: ConfigService): RedisQueueModuleOptions => ({
            connection: redisUrl(),
            prefix,
            checkRedisConfig: false,
            queues: {
              thumbs: { concurrency: Number(config.getOrThrow('THUMBS_CONCURRENCY')) },
              flaky: { attempts: Number(config.getOrThrow('FLAKY_ATTEMPTS')), backoff: { type: 'fixed', delay: 1 } },
            },
          }),
        }),
      ],
      providers: [Handlers],
    }).compile();
    const app = await moduleRef.init();
    try {
      const producer = app.get(QueueProducer);
      const inspector = app.get(QueueInspector);
      await producer.enqueueMany(ThumbQueue, [1, 2, 3, 4, 5].map((n) => ({ payload: { n } })));
      // Three at once, though the decorator says one; never more than three.
      await waitFor(() => state.running === 3, 10_000, 'three thumbnails running at once');
      gate.resolve();
      await waitFor(() => state.done === 5, 10_000, 'every thumbnail');
      expect(state.maxRunning).toBe(3);
      expect(contexts.thumbs!.every((c) => c.maxAttempts === 5)).toBe(true); // not overridden: the decorator's

      // Two attempts with a 1 ms backoff instead of five spaced a minute apart.
      const id = await producer.enqueue('flaky', {});
      const dead = await waitFor(() => inspector.deadJob('flaky', id), 10_000, 'the dead letter');
      expect(dead.attemptsMade).toBe(2);
      expect(contexts.flaky).toEqual([
        { maxAttempts: 2, attempt: 1 },
        { maxAttempts: 2, attempt: 2 },
      ]);
    } finally {
      await app.close();
    }
  });

  it('runs only the listed queues with `consumers`, leaving the others for another deployment', async () => {
    contexts.mail = [];
    contexts.flaky = [];
    const first = await boot({ consumers: ['mail'] });
    await first.producer.enqueue('flaky', {}); // produced here, consumed elsewhere
    await first.producer.enqueue('mail', { to: 'ada@example.com' });
    await waitFor(() => contexts.mail!.length === 1, 10_000, 'the mail handler');
    await first.app.close();
    expect(contexts.flaky).toEqual([]);
    const redis = rawClient();
    expect(await new QueueInspector(redis, first.prefix).counts('flaky')).toEqual({ ready: 1, delayed: 0, active: 0, dead: 0 });
    redis.disconnect();

    // The deployment that lists "flaky" (by token or name) picks the waiting job up.
    const second = await boot({ consumers: [defineQueue('flaky')], queues: { flaky: { attempts: 1 } } }, first.prefix);
    try {
      await waitFor(() => contexts.flaky!.length === 1, 10_000, 'the flaky handler');
      expect(contexts.mail).toHaveLength(1);
    } finally {
      await second.app.close();
    }
  });

  it.each([
    [{ consumers: ['mail', 'nope', 'thumb'] }, 'consumers', 'names queues with no @QueueHandler in this app: "nope", "thumb" (handlers here: "thumbs", "flaky", "mail")'],
    [{ queues: { mial: { concurrency: 2 } } }, 'queues', 'names a queue with no @QueueHandler in this app: "mial"'],
  ])('fails the bootstrap on queue names without a handler: %j', async (options, field, message) => {
    const error = await boot(options as Partial<RedisQueueModuleOptions>).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).field).toBe(field);
    expect((error as Error).message).toContain(message);
  });

  it('fails the bootstrap on an override the handler could not take, naming the queue and field', async () => {
    await expect(boot({ queues: { mail: { concurrency: -1 } } })).rejects.toThrow(
      'Invalid option "queues.mail.concurrency": must be an integer from 1 to 10000',
    );
  });
});
