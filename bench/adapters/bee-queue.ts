import BeeQueue from 'bee-queue';
import { Redis } from 'ioredis';
import type { EmailJob } from '../payload.js';
import { AdapterOptions, BenchJob, chunks, PEER_POLL_COMMANDS, hostPort, JobHandler, ProducerAdapter, QUEUE, WorkerAdapter, WorkerStart } from './adapter.js';

export const BEE_PREFIX = 'bq';
export const BEE_SETTINGS =
  'worker removeOnSuccess, sendEvents/getEvents off, activateDelayedJobs on; producer storeJobs off; other options default (delayedDebounce 1000 ms, stallInterval 5000 ms)';
/** Jobs per `saveAll` call (one pipeline per call); calls are awaited in sequence. */
const BULK_CALL = 1000;

export async function beeProducer(options: AdapterOptions): Promise<ProducerAdapter> {
  const queues = new Map<string, BeeQueue<EmailJob>>();
  const open = async (name: string): Promise<BeeQueue<EmailJob>> => {
    let queue = queues.get(name);
    if (!queue) {
      queue = new BeeQueue<EmailJob>(name, {
        prefix: BEE_PREFIX,
        redis: hostPort(options.url),
        isWorker: false,
        getEvents: false,
        sendEvents: false,
        storeJobs: false,
      });
      queues.set(name, queue);
      await queue.ready();
    }
    return queue;
  };
  const main = await open(QUEUE);
  return {
    bulkCall: `Queue.saveAll, ${BULK_CALL} jobs per call, calls in sequence`,
    async enqueueBulk(jobs: ReadonlyArray<BenchJob>, name = QUEUE): Promise<void> {
      const queue = await open(name);
      const make = (j: BenchJob) => {
        const job = queue.createJob(j.payload);
        if (j.dueAt) job.delayUntil(j.dueAt);
        return job;
      };
      for (const part of chunks(jobs, BULK_CALL)) {
        const errors = await queue.saveAll(part.map(make));
        if (errors.size > 0) throw [...errors.values()][0];
      }
    },
    async enqueueOne(payload: EmailJob): Promise<void> {
      await main.createJob(payload).save();
    },
    close: async () => {
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}

export async function beeWorker(options: AdapterOptions): Promise<WorkerAdapter> {
  const poll = new Redis(options.url, { connectionName: 'bench-poll' });
  let queues: BeeQueue<EmailJob>[] = [];
  let current = QUEUE;
  return {
    pollCommands: PEER_POLL_COMMANDS,
    async start(spec: WorkerStart, handler: JobHandler): Promise<void> {
      if (spec.features && Object.keys(spec.features).length > 0) throw new Error('bee-queue has none of the opt-in features the bench measures');
      const names = spec.queues ?? [spec.queue ?? QUEUE];
      current = names[0];
      // One Queue per queue name, as bee-queue runs many queues in one process.
      queues = names.map((name) => {
        const queue = new BeeQueue<EmailJob>(name, {
          prefix: BEE_PREFIX,
          redis: hostPort(options.url),
          isWorker: true,
          getEvents: false,
          sendEvents: false,
          removeOnSuccess: true,
          activateDelayedJobs: true,
        });
        queue.on('error', (error) => console.error(`bee-queue worker: ${error.message}`));
        queue.process(spec.concurrency, (job: BeeQueue.Job<EmailJob>) => handler(job.data, String(job.id)));
        return queue;
      });
      await Promise.all(queues.map((q) => q.ready()));
    },
    async stop(): Promise<void> {
      await Promise.all(queues.map((q) => q.close(5000)));
      queues = [];
    },
    inFlight: async () => (await poll.llen(`${BEE_PREFIX}:${current}:waiting`)) + (await poll.llen(`${BEE_PREFIX}:${current}:active`)),
    close: async () => {
      poll.disconnect();
    },
  };
}
