import { Redis } from 'ioredis';
import {
  BulkJob,
  closeClient,
  consoleLogger,
  createClient,
  EnqueueOptions,
  JobContext,
  JobProducer,
  PubSub,
  QueueEvents,
  QueueInspector,
  QueueLogger,
  QueueWorker,
  Scheduler,
  whenReady,
} from '../../libs/redis-queue/src/engine/index.js';
import { loadClassValidation } from '../../libs/redis-queue/src/class-validator.integration.js';
import { schemaEnqueueCheck, schemaHandlerCheck } from '../../libs/redis-queue/src/standard-schema.integration.js';
import { EmailJob, WelcomeEmail, welcomeEmailSchema } from '../payload.js';
import { producerTracing, workerObservers } from './instrumentation.js';
import { AdapterOptions, BenchJob, JobFeatures, JobHandler, ProducerAdapter, QUEUE, Validator, WorkerAdapter, WorkerStart } from './adapter.js';

export const OURS_PREFIX = 'rq';
/**
 * What one `inFlight()` poll sends: QueueInspector.counts (the public view, not raw keys, which may change),
 * one pipeline of LLEN of the ready, recovered and 10 priority lists, ZCARD of the group and delayed sets,
 * HGET of the active count and HLEN of the dead set.
 */
export const OURS_POLL_COMMANDS = { llen: 12, zcard: 2, hget: 1, hlen: 1 };
export const OURS_SETTINGS = 'engine QueueWorker/JobProducer, leaseMs 30000, maxBatch 1000 (default), wake-ups over one Pub/Sub connection';
export const OURS_VALIDATION: Record<Validator, string> = {
  'class-validator':
    'validation as the Nest layer does it: class-validator on each class instance before enqueueMany, and before the handler (the payload made an instance of the class, then validated)',
  valibot:
    'validation as the Nest layer does it for a defineQueue token with a valibot schema: each plain payload checked before enqueueMany, and before the handler (which gets the schema output)',
};
/** What the Nest layer passes to class-validator by default. */
const VALIDATOR_OPTIONS = { forbidUnknownValues: true };
/** Per call of `enqueueMany`; the engine splits each call into script calls of 1000 and pipelines them. */
const BULK_CALL = 100_000;

export const quietLogger: QueueLogger = { ...consoleLogger, log: () => undefined };

/** The enqueue options of ours for a bench job. */
export function enqueueOptions(job: BenchJob): EnqueueOptions | undefined {
  const f: JobFeatures | undefined = job.options;
  if (!job.delayMs && !f) return undefined;
  const options: EnqueueOptions = {};
  if (job.delayMs) options.delay = job.delayMs;
  if (f?.priority !== undefined) options.priority = f.priority;
  if (f?.group !== undefined) options.group = f.group;
  if (f?.track) options.track = true;
  return Object.keys(options).length > 0 ? options : undefined;
}

export async function oursProducer(options: AdapterOptions): Promise<ProducerAdapter> {
  const client = createClient(options.url, { role: 'producer', name: 'bench-producer', commandTimeout: 60_000, logger: quietLogger });
  await whenReady(client, 10_000, 'bench producer');
  const producer = new JobProducer({ client, prefix: OURS_PREFIX, timeout: 60_000 });
  // Jobs of the tracing feature go through a producer with tracing on, inside an active span.
  let traced: { producer: JobProducer; inSpan: <T>(run: () => Promise<T>) => Promise<T> } | undefined;
  const tracedProducer = () => {
    if (traced) return traced;
    const tracing = producerTracing('tracing');
    return (traced = { producer: new JobProducer({ client, prefix: OURS_PREFIX, timeout: 60_000, traceparent: tracing.traceparent }), inSpan: tracing.inSpan });
  };
  const classValidation = (await loadClassValidation(VALIDATOR_OPTIONS))!;
  const schemaChecks = new Map<string, (payload: unknown) => void | Promise<void>>();
  const validate = (payload: object, queue = QUEUE): void | Promise<void> => {
    if (options.validate === 'class-validator') return classValidation.instanceCheck(payload, (type, problems) => `Invalid payload for queue "${queue}" (${type}): ${problems}`);
    let check = schemaChecks.get(queue);
    if (!check) schemaChecks.set(queue, (check = schemaEnqueueCheck(welcomeEmailSchema, queue)));
    return check(payload);
  };
  const asPayload = (job: EmailJob): EmailJob =>
    options.validate === 'class-validator' && !(job instanceof WelcomeEmail) ? WelcomeEmail.from(job) : job;
  return {
    bulkCall: `JobProducer.enqueueMany, up to ${BULK_CALL} jobs per call (one Lua call per 1000, pipelined)`,
    async enqueueBulk(jobs: ReadonlyArray<BenchJob>, queue = QUEUE): Promise<void> {
      for (let start = 0; start < jobs.length; start += BULK_CALL) {
        const items: BulkJob[] = [];
        for (let i = start; i < Math.min(jobs.length, start + BULK_CALL); i++) {
          const job = jobs[i];
          const payload = asPayload(job.payload);
          // The Nest QueueProducer validates each item in turn before storing any (awaiting only asynchronous
          // rules): do the same.
          if (options.validate) {
            const pending = validate(payload, queue);
            if (pending) await pending;
          }
          const jobOptions = enqueueOptions(job);
          items.push(jobOptions ? { payload, options: jobOptions } : { payload });
        }
        if (jobs[start]?.options?.traced) {
          const t = tracedProducer();
          await t.inSpan(() => t.producer.enqueueMany(queue, items));
        } else {
          await producer.enqueueMany(queue, items);
        }
      }
    },
    async enqueueOne(payload: EmailJob): Promise<void> {
      const job = asPayload(payload);
      if (options.validate) await validate(job);
      await producer.enqueue(QUEUE, job);
    },
    async schedule(queue: string, name: string, everyMs: number): Promise<void> {
      await producer.schedule(queue, name, { every: everyMs, payload: { to: 'tick@example.com', template: 'welcome', userId: 1 } });
    },
    async listenCompleted(queue: string, onEvent: () => void): Promise<() => Promise<void>> {
      // As an API app listens (@OnQueueEvent): a worker-role connection for reads and the process's subscriber.
      const events = await engineEvents(options.url);
      events.events.on(queue, 'completed', onEvent);
      await events.events.ready();
      return events.close;
    },
    close: () => closeClient(client),
  };
}

/** Engine QueueEvents with connections of its own, as the Nest layer's event explorer holds them. */
async function engineEvents(url: string): Promise<{ events: QueueEvents; close: () => Promise<void> }> {
  const client = createClient(url, { role: 'worker', name: 'bench-events', commandTimeout: 30_000, logger: quietLogger });
  await whenReady(client, 10_000, 'bench events');
  const hub = new PubSub({ connection: url, name: 'bench-events-notify', logger: quietLogger });
  const events = new QueueEvents({ client, notifications: hub, prefix: OURS_PREFIX, logger: quietLogger });
  return {
    events,
    close: async () => {
      await events.close();
      await hub.close();
      await closeClient(client);
    },
  };
}

/** `name@tick`: the id schedule.lua gives a tick's job. */
export function oursScheduledTick(id: string): { schedule: string; tick: number } | undefined {
  const at = id.lastIndexOf('@');
  if (at <= 0) return undefined;
  const tick = Number(id.slice(at + 1));
  return Number.isFinite(tick) ? { schedule: id.slice(0, at), tick } : undefined;
}

export async function oursWorker(options: AdapterOptions): Promise<WorkerAdapter> {
  const poll = new Redis(options.url, { connectionName: 'bench-poll' });
  const inspector = new QueueInspector(poll, OURS_PREFIX);
  const check =
    options.validate === 'valibot'
      ? schemaHandlerCheck(welcomeEmailSchema)
      : (await loadClassValidation(VALIDATOR_OPTIONS))!.handlerCheck(WelcomeEmail)!;
  let handle: JobHandler | undefined;
  const run = (payload: unknown, job: JobContext) => handle!(payload as WelcomeEmail, job.id);
  let running: { worker: QueueWorker; client: ReturnType<typeof createClient>; hub: PubSub; scheduler?: Scheduler } | undefined;
  let current = QUEUE;
  return {
    pollCommands: OURS_POLL_COMMANDS,
    scheduledTick: oursScheduledTick,
    async start(spec: WorkerStart, handler: JobHandler): Promise<void> {
      if (spec.queues) throw new Error('the engine adapter runs one queue; the many-queue runs use the Nest worker app');
      const queue = (current = spec.queue ?? QUEUE);
      const features = spec.features ?? {};
      handle = handler;
      const client = createClient(options.url, { role: 'worker', name: 'bench-worker', commandTimeout: 30_000, logger: quietLogger });
      await whenReady(client, 10_000, 'bench worker');
      const hub = new PubSub({ connection: options.url, name: 'bench-notify', logger: quietLogger });
      const observers = await workerObservers(features.metrics ? 'metrics' : features.tracing ? 'tracing' : undefined, client, OURS_PREFIX);
      const plain = (payload: unknown, job: JobContext) => handler(payload as EmailJob, job.id);
      const withProgress = async (payload: unknown, job: JobContext) => {
        await job.progress(50);
        return handler(payload as EmailJob, job.id);
      };
      const worker = new QueueWorker({
        queue,
        prefix: OURS_PREFIX,
        client,
        notifications: hub,
        concurrency: spec.concurrency,
        leaseMs: 30_000,
        defaults: { attempts: 3, backoff: { type: 'fixed', delay: 10 } },
        logger: quietLogger,
        observers,
        // The Nest layer's handler check: the handler is called synchronously when the rules are synchronous.
        process: options.validate ? (payload, job) => check(payload, job, run) : features.progress ? withProgress : plain,
        rules:
          features.rateLimit || features.globalConcurrency
            ? { rateLimit: features.rateLimit ?? null, globalConcurrency: features.globalConcurrency ?? null }
            : undefined,
      });
      worker.start();
      let scheduler: Scheduler | undefined;
      if (features.schedules) {
        scheduler = new Scheduler({ client, notifications: hub, prefix: OURS_PREFIX, queues: [queue], logger: quietLogger });
        scheduler.start();
      }
      running = { worker, client, hub, scheduler };
    },
    async stop(): Promise<void> {
      if (!running) return;
      running.scheduler?.stop();
      await running.worker.stop(5000);
      await running.hub.close();
      await closeClient(running.client);
      running = undefined;
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
