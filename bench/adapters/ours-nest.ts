// Ours through the public Nest API, as an app uses it: a producer app (RedisQueueModule with consumers: false,
// QueueProducer) in the benchmark's process, and a worker app (RedisQueueModule, @QueueHandler methods) in the
// worker child, both built with @nestjs/testing. Everything below the module is the library's own code.
import 'reflect-metadata';
import { LogLevel } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { JobContext, QueueHandler, QueueInspector, QueueOverrides, QueueProducer, RedisQueueModule } from 'nestjs-redis-queue';
import { EmailJob, monoMs } from '../payload.js';
import { AdapterOptions, BenchJob, chunks, JobHandler, ProducerAdapter, QUEUE, WorkerAdapter, WorkerStart } from './adapter.js';
import { enqueueOptions, OURS_POLL_COMMANDS, OURS_PREFIX, oursScheduledTick } from './ours.js';

export const OURS_NEST_SETTINGS =
  'Nest apps built with @nestjs/testing: producer app RedisQueueModule.forRoot({ consumers: false }) + QueueProducer; worker app RedisQueueModule.forRoot({ queues: { <queue>: { concurrency } } }) + one @QueueHandler method per queue, timed from app.init(); module defaults otherwise (checkRedisConfig off: the bench Redis has persistence off on purpose)';
/** Jobs per `enqueueMany` call; calls are awaited in sequence (the "1000 per call, in sequence"). */
const BULK_CALL = 1000;
/** Nest's own log lines stay quiet; warnings and errors still print. */
const LOG_LEVELS: LogLevel[] = ['error', 'warn'];

export async function oursNestProducer(options: AdapterOptions): Promise<ProducerAdapter> {
  const moduleRef = await Test.createTestingModule({
    imports: [RedisQueueModule.forRoot({ connection: options.url, prefix: OURS_PREFIX, consumers: false, checkRedisConfig: false })],
  }).compile();
  moduleRef.useLogger(LOG_LEVELS);
  const app = await moduleRef.init();
  const producer = app.get(QueueProducer);
  return {
    bulkCall: `QueueProducer.enqueueMany, ${BULK_CALL} jobs per call, calls in sequence`,
    async enqueueBulk(jobs: ReadonlyArray<BenchJob>, queue = QUEUE): Promise<void> {
      for (const part of chunks(jobs, BULK_CALL)) {
        await producer.enqueueMany(queue, part.map((job) => ({ payload: job.payload, options: enqueueOptions(job) })));
      }
    },
    async enqueueOne(payload: EmailJob): Promise<void> {
      await producer.enqueue(QUEUE, payload);
    },
    close: () => app.close(),
  };
}

type HandlerMethod = (payload: EmailJob, job: JobContext) => Promise<void>;

/**
 * The worker app's handler provider: one `@QueueHandler(queue)` method per queue, the same as a class written
 * with that many decorated methods (generated, since the runs choose their queues).
 */
function handlerProvider(queues: readonly string[], handle: HandlerMethod): object {
  class BenchHandlers {}
  queues.forEach((queue, i) => {
    const descriptor: TypedPropertyDescriptor<HandlerMethod> = { value: (payload, job) => handle(payload, job), writable: true, configurable: true };
    Object.defineProperty(BenchHandlers.prototype, `handle${i}`, descriptor);
    QueueHandler(queue)(BenchHandlers.prototype, `handle${i}`, descriptor);
  });
  return new BenchHandlers();
}

export async function oursNestWorker(options: AdapterOptions): Promise<WorkerAdapter> {
  const poll = new Redis(options.url, { connectionName: 'bench-poll' });
  const inspector = new QueueInspector(poll, OURS_PREFIX);
  let app: TestingModule | undefined;
  let current = QUEUE;
  return {
    pollCommands: OURS_POLL_COMMANDS,
    scheduledTick: oursScheduledTick,
    async start(spec: WorkerStart, handler: JobHandler): Promise<number> {
      const queues = spec.queues ?? [spec.queue ?? QUEUE];
      current = queues[0];
      const features = spec.features ?? {};
      // Deployment settings through module option `queues`, over the decorators (here: none).
      const overrides: QueueOverrides = { concurrency: spec.concurrency };
      if (features.rateLimit) overrides.rateLimit = features.rateLimit;
      if (features.globalConcurrency) overrides.globalConcurrency = features.globalConcurrency;
      const handle: HandlerMethod = features.progress
        ? async (payload, job) => {
            await job.progress(50);
            return handler(payload, job.id);
          }
        : (payload, job) => handler(payload, job.id);
      const moduleRef = await Test.createTestingModule({
        imports: [
          RedisQueueModule.forRoot({
            connection: options.url,
            prefix: OURS_PREFIX,
            checkRedisConfig: false,
            queues: Object.fromEntries(queues.map((queue) => [queue, overrides])),
          }),
        ],
        providers: [{ provide: 'BenchHandlers', useValue: handlerProvider(queues, handle) }],
      }).compile();
      moduleRef.useLogger(LOG_LEVELS);
      const startedAt = monoMs();
      app = await moduleRef.init();
      return startedAt;
    },
    async stop(): Promise<void> {
      await app?.close();
      app = undefined;
    },
    inFlight: async () => {
      const counts = await inspector.counts(current);
      return counts.ready + counts.active;
    },
    close: async () => {
      poll.disconnect();
    },
  };
}
