import { Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { EmailJob } from '../payload.js';
import { AdapterOptions, BenchJob, chunks, PEER_POLL_COMMANDS, hostPort, JobHandler, ProducerAdapter, QUEUE, WorkerAdapter } from './adapter.js';

export const BULLMQ_PREFIX = 'bull';
export const BULLMQ_SETTINGS = 'Worker removeOnComplete { count: 0 } (finished jobs deleted, as ours does), other options default';
/** Jobs per `addBulk` call (one MULTI per call); calls are awaited in sequence. */
const BULK_CALL = 1000;

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
        await queue.addBulk(part.map((j) => ({ name, data: j.payload, opts: j.delayMs ? { delay: j.delayMs } : undefined })));
      }
    },
    async enqueueOne(payload: EmailJob): Promise<void> {
      await main.add(QUEUE, payload);
    },
    close: async () => {
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}

export async function bullmqWorker(options: AdapterOptions): Promise<WorkerAdapter> {
  const poll = new Redis(options.url, { connectionName: 'bench-poll' });
  let worker: Worker<EmailJob> | undefined;
  let current = QUEUE;
  return {
    pollCommands: PEER_POLL_COMMANDS,
    async start(concurrency: number, handler: JobHandler, queue = QUEUE): Promise<void> {
      current = queue;
      worker = new Worker<EmailJob>(queue, (job: Job<EmailJob>) => handler(job.data), {
        connection: hostPort(options.url),
        prefix: BULLMQ_PREFIX,
        concurrency,
        removeOnComplete: { count: 0 },
      });
      worker.on('error', (error) => console.error(`bullmq worker: ${error.message}`));
      await worker.waitUntilReady();
    },
    async stop(): Promise<void> {
      await worker?.close();
      worker = undefined;
    },
    inFlight: async () =>
      (await poll.llen(`${BULLMQ_PREFIX}:${current}:wait`)) + (await poll.llen(`${BULLMQ_PREFIX}:${current}:active`)),
    close: async () => {
      poll.disconnect();
    },
  };
}
