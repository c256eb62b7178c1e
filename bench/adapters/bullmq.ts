import { Job, JobsOptions, Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { EmailJob } from '../payload.js';
import { AdapterOptions, BenchJob, chunks, PEER_POLL_COMMANDS, hostPort, JobHandler, ProducerAdapter, QUEUE, WorkerAdapter, WorkerStart } from './adapter.js';

export const BULLMQ_PREFIX = 'bull';
export const BULLMQ_SETTINGS = 'Worker removeOnComplete { count: 0 } (finished jobs deleted, as ours does), other options default';
/** Jobs per `addBulk` call (one MULTI per call); calls are awaited in sequence. */
const BULK_CALL = 1000;

function jobOptions(job: BenchJob): JobsOptions | undefined {
  const priority = job.options?.priority;
  if (!job.delayMs && priority === undefined) return undefined;
  const opts: JobsOptions = {};
  if (job.delayMs) opts.delay = job.delayMs;
  if (priority !== undefined) opts.priority = priority;
  return opts;
}

export async function bullmqProducer(options: AdapterOptions): Promise<ProducerAdapter> {
  const queues = new Map<string, Queue<EmailJob>>();
  const open = async (name: string): Promise<Queue<EmailJob>> => {
    let queue = queues.get(name);
    if (!queue) {
      queue = new Queue<EmailJob>(name, { connection: hostPort(options.url), prefix: BULLMQ_PREFIX });
      queues.set(name, queue);
      await queue.waitUntilReady();
    }
    return queue;
  };
  const main = await open(QUEUE);
  return {
    bulkCall: `Queue.addBulk, ${BULK_CALL} jobs per call, calls in sequence`,
    async enqueueBulk(jobs: ReadonlyArray<BenchJob>, name = QUEUE): Promise<void> {
      const queue = await open(name);
      for (const part of chunks(jobs, BULK_CALL)) {
        await queue.addBulk(part.map((j) => ({ name, data: j.payload, opts: jobOptions(j) })));
      }
    },
    async enqueueOne(payload: EmailJob): Promise<void> {
      await main.add(QUEUE, payload);
    },
    async schedule(queueName: string, name: string, everyMs: number): Promise<void> {
      const queue = await open(queueName);
      await queue.upsertJobScheduler(name, { every: everyMs }, { name, data: { to: 'tick@example.com', template: 'welcome', userId: 1 } });
    },
    async listenCompleted(queueName: string, onEvent: () => void): Promise<() => Promise<void>> {
      const events = new QueueEvents(queueName, { connection: hostPort(options.url), prefix: BULLMQ_PREFIX });
      events.on('completed', onEvent);
      await events.waitUntilReady();
      return () => events.close();
    },
    close: async () => {
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}

/** `repeat:<scheduler id>:<tick ms>`: the id BullMQ gives a job scheduler's job. */
function scheduledTick(id: string): { schedule: string; tick: number } | undefined {
  if (!id.startsWith('repeat:')) return undefined;
  const at = id.lastIndexOf(':');
  const tick = Number(id.slice(at + 1));
  return Number.isFinite(tick) ? { schedule: id.slice('repeat:'.length, at), tick } : undefined;
}

export async function bullmqWorker(options: AdapterOptions): Promise<WorkerAdapter> {
  const poll = new Redis(options.url, { connectionName: 'bench-poll' });
  let workers: Worker<EmailJob>[] = [];
  let current = QUEUE;
  return {
    pollCommands: PEER_POLL_COMMANDS,
    scheduledTick,
    async start(spec: WorkerStart, handler: JobHandler): Promise<void> {
      const names = spec.queues ?? [spec.queue ?? QUEUE];
      current = names[0];
      const features = spec.features ?? {};
      if (features.globalConcurrency) {
        const queue = new Queue(current, { connection: hostPort(options.url), prefix: BULLMQ_PREFIX });
        await queue.setGlobalConcurrency(features.globalConcurrency);
        await queue.close();
      }
      const run = features.progress
        ? async (job: Job<EmailJob>) => {
            await job.updateProgress(50);
            return handler(job.data, job.id!);
          }
        : (job: Job<EmailJob>) => handler(job.data, job.id!);
      // One Worker per queue, as BullMQ runs many queues in one process.
      workers = names.map((name) => {
        const worker = new Worker<EmailJob>(name, run, {
          connection: hostPort(options.url),
          prefix: BULLMQ_PREFIX,
          concurrency: spec.concurrency,
          removeOnComplete: features.keepFinishedSeconds ? { age: features.keepFinishedSeconds } : { count: 0 },
          limiter: features.rateLimit,
        });
        worker.on('error', (error) => console.error(`bullmq worker: ${error.message}`));
        return worker;
      });
      await Promise.all(workers.map((w) => w.waitUntilReady()));
    },
    async stop(): Promise<void> {
      await Promise.all(workers.map((w) => w.close()));
      workers = [];
    },
    inFlight: async () =>
      (await poll.llen(`${BULLMQ_PREFIX}:${current}:wait`)) + (await poll.llen(`${BULLMQ_PREFIX}:${current}:active`)),
    close: async () => {
      poll.disconnect();
    },
  };
}
