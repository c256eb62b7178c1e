import { Redis } from 'ioredis';
import {
  BulkJob,
  closeClient,
  consoleLogger,
  createClient,
  JobProducer,
  PubSub,
  QueueInspector,
  QueueLogger,
  QueueWorker,
  whenReady,
} from '../../libs/redis-queue/src/engine/index.js';
import { loadClassValidation } from '../../libs/redis-queue/src/class-validator.integration.js';
import { schemaEnqueueCheck, schemaHandlerCheck } from '../../libs/redis-queue/src/standard-schema.integration.js';
import { EmailJob, WelcomeEmail, welcomeEmailSchema } from '../payload.js';
import { AdapterOptions, BenchJob, JobHandler, ProducerAdapter, QUEUE, Validator, WorkerAdapter } from './adapter.js';

export const OURS_PREFIX = 'rq';
/** What one `inFlight()` poll sends: QueueInspector.counts (the public view, not raw keys, which may change). */
export const OURS_POLL_COMMANDS = { llen: 1, zcard: 1, hlen: 2 };
export const OURS_SETTINGS = 'engine QueueWorker/JobProducer, leaseMs 30000, maxBatch 1000 and idleBlockSeconds 5 (defaults)';
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

const quietLogger: QueueLogger = { ...consoleLogger, log: () => undefined };

export async function oursProducer(options: AdapterOptions): Promise<ProducerAdapter> {
  const client = createClient(options.url, { role: 'producer', name: 'bench-producer', commandTimeout: 60_000, logger: quietLogger });
  await whenReady(client, 10_000, 'bench producer');
  const producer = new JobProducer({ client, prefix: OURS_PREFIX, timeout: 60_000 });
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
          items.push(job.delayMs ? { payload, options: { delay: job.delayMs } } : { payload });
        }
        await producer.enqueueMany(queue, items);
      }
    },
    async enqueueOne(payload: EmailJob): Promise<void> {
      const job = asPayload(payload);
      if (options.validate) await validate(job);
      await producer.enqueue(QUEUE, job);
    },
    close: () => closeClient(client),
  };
}

export async function oursWorker(options: AdapterOptions): Promise<WorkerAdapter> {
  const poll = new Redis(options.url, { connectionName: 'bench-poll' });
  const inspector = new QueueInspector(poll, OURS_PREFIX);
  const check =
    options.validate === 'valibot'
      ? schemaHandlerCheck(welcomeEmailSchema)
      : (await loadClassValidation(VALIDATOR_OPTIONS))!.handlerCheck(WelcomeEmail)!;
  const run = (payload: unknown) => handle!(payload as WelcomeEmail);
  let handle: JobHandler | undefined;
  let running: { worker: QueueWorker; client: ReturnType<typeof createClient>; hub: PubSub } | undefined;
  let current = QUEUE;
  return {
    pollCommands: OURS_POLL_COMMANDS,
    async start(concurrency: number, handler: JobHandler, queue = QUEUE): Promise<void> {
      current = queue;
      handle = handler;
      const mk = (role: 'worker' | 'blocking', name: string) =>
        createClient(options.url, { role, name, commandTimeout: 30_000, logger: quietLogger });
      const client = mk('worker', 'bench-worker');
      await whenReady(client, 10_000, 'bench worker');
      const hub = new PubSub({ connection: options.url, name: 'bench-notify', logger: quietLogger });
      const worker = new QueueWorker({
        queue,
        prefix: OURS_PREFIX,
        client,
        notifications: hub,
        concurrency,
        leaseMs: 30_000,
        defaults: { attempts: 3, backoff: { type: 'fixed', delay: 10 } },
        logger: quietLogger,
        // The Nest layer's handler check: the handler is called synchronously when the rules are synchronous.
        process: options.validate ? (payload, job) => check(payload, job, run) : (payload: unknown) => handler(payload as EmailJob),
      });
      worker.start();
      running = { worker, client, hub };
    },
    async stop(): Promise<void> {
      if (!running) return;
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
