// The chaos producer: a producer-only Nest app (consumers: false) enqueuing the seeded job mix at a steady
// rate, straight to Redis (not through the proxy). Journals each id as "attempt" before the call and
// "ack" only once it resolved; a rejected call (Redis down, paused, restarting) is journaled as "fail" and
// retried later with the same jobId, at most MAX_TRIES times. Stops on the IPC message "stop".
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { QueueProducer, RedisQueueModule } from 'nestjs-redis-queue';
import { PlannedJob, planJob, planRulesJob, PlannedRulesJob, PREFIX, QUEUE, RULES_QUEUE } from './jobs.js';
import { Journal } from './journal.js';
import { Random } from './random.js';

/** Calls per job at most; the waits between them grow to outlast the longest fault (about 12 s in all). */
const MAX_TRIES = 6;
const MAX_IN_FLIGHT = 200;

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`producer-process: ${name} is not set`);
  return value;
};

@Module({
  imports: [
    RedisQueueModule.forRoot({
      connection: env('CHAOS_REDIS_URL'),
      prefix: PREFIX,
      consumers: false,
      commandTimeout: 2000,
      checkRedisConfig: false,
    }),
  ],
})
class ChaosProducerModule {}

const journal = new Journal(env('CHAOS_JOURNAL'));
const random = new Random(Number(env('CHAOS_SEED')), 1);
const rate = Number(env('CHAOS_RATE'));
/** Jobs per second to the rules queue (their own seeded stream, so the main mix is the same as without them). */
const rulesRate = Number(env('CHAOS_RULES_RATE'));
const rulesRandom = new Random(Number(env('CHAOS_SEED')), 5);
const leaseMs = Number(env('CHAOS_LEASE_MS'));

const app = await NestFactory.createApplicationContext(ChaosProducerModule, { logger: ['error'], abortOnError: false });
const producer = app.get(QueueProducer);

let seq = 0;
let inFlight = 0;
let stopping = false;
const retries: { job: PlannedJob; queue: string; tries: number; at: number }[] = [];
/** Tracked jobs of the rules queue to cancel, when (after their enqueue was acknowledged). */
const cancels: { id: string; at: number }[] = [];

/** One cancel call, journaled with its outcome (or its error: then it may or may not have taken effect). */
async function cancel(id: string): Promise<void> {
  const at = Date.now();
  try {
    const { outcome, state } = await producer.cancel(RULES_QUEUE, id);
    journal.write({ e: 'cancel', id, at, doneAt: Date.now(), outcome, state });
  } catch (error) {
    journal.write({ e: 'cancel', id, at, doneAt: Date.now(), error: `${(error as Error).name}: ${String((error as Error).message).slice(0, 200)}` });
  }
}
const calls = new Set<Promise<void>>();

function track(call: Promise<void>): void {
  calls.add(call);
  void call.finally(() => calls.delete(call));
}

/** One enqueue call for these jobs (one job: enqueue; several: enqueueMany), journaled around the call. */
async function send(jobs: PlannedJob[], tries: number, queue = QUEUE): Promise<void> {
  inFlight++;
  for (const job of jobs) journal.write({ e: 'attempt', id: job.id, kind: job.kind, delay: job.delay, at: Date.now() });
  try {
    if (jobs.length === 1) {
      const id = await producer.enqueue(queue, jobs[0].payload, jobs[0].options);
      if (id !== jobs[0].id) throw new Error(`enqueue returned id ${id} for jobId ${jobs[0].id}`);
    } else {
      const ids = await producer.enqueueMany(queue, jobs.map((job) => ({ payload: job.payload, options: job.options })));
      if (ids.join() !== jobs.map((j) => j.id).join()) throw new Error(`enqueueMany returned ids ${ids.join()}`);
    }
    const at = Date.now();
    for (const job of jobs) journal.write({ e: 'ack', id: job.id, at });
    for (const job of jobs as PlannedRulesJob[]) {
      if (job.cancelAfter !== undefined) cancels.push({ id: job.id, at: at + job.cancelAfter });
    }
  } catch (error) {
    const at = Date.now();
    const message = (error as Error).message ?? String(error);
    for (const job of jobs) {
      journal.write({ e: 'fail', id: job.id, at, error: `${(error as Error).name}: ${message.slice(0, 200)}` });
      if (tries < MAX_TRIES) retries.push({ job, queue, tries: tries + 1, at: at + Math.min(500 * 2 ** (tries - 1), 5000) + random.int(0, 500) });
    }
  } finally {
    inFlight--;
  }
}

const started = Date.now();
let emitted = 0;
let rulesSeq = 0;
let rulesEmitted = 0;
const tick = setInterval(() => {
  if (stopping) return;
  const now = Date.now();
  for (let i = 0; i < retries.length && inFlight < MAX_IN_FLIGHT; ) {
    if (retries[i].at > now) {
      i++;
      continue;
    }
    const [{ job, queue, tries }] = retries.splice(i, 1);
    track(send([job], tries, queue));
  }
  for (let i = 0; i < cancels.length; ) {
    if (cancels[i].at > now) {
      i++;
      continue;
    }
    const [{ id }] = cancels.splice(i, 1);
    track(cancel(id));
  }
  const rulesDue = Math.floor(((now - started) / 1000) * rulesRate);
  while (rulesEmitted < rulesDue && inFlight < MAX_IN_FLIGHT) {
    const job = planRulesJob(rulesRandom, ++rulesSeq);
    rulesEmitted++;
    track(send([job], 1, RULES_QUEUE));
  }
  if (rulesEmitted < rulesDue) rulesEmitted = rulesDue;
  const due = Math.floor(((now - started) / 1000) * rate);
  while (emitted < due && inFlight < MAX_IN_FLIGHT) {
    const batch = random.chance(0.15) ? random.int(2, 10) : 1;
    const jobs = Array.from({ length: batch }, () => planJob(random, ++seq, leaseMs));
    emitted += batch;
    track(send(jobs, 1));
  }
  if (emitted < due) emitted = due; // over the in-flight cap (a long outage): skip, do not burst later
}, 20);

process.on('message', (message: unknown) => {
  if ((message as { stop?: boolean }).stop) void stop();
});
process.once('disconnect', () => process.exit(0));
process.send?.({ ready: true });

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(tick);
  await Promise.allSettled([...calls]);
  // Redis is healed by now: one last try for every job whose enqueue failed and still has tries left.
  const last = retries.splice(0);
  await Promise.allSettled(last.map(({ job, queue, tries }) => send([job], tries, queue)));
  // Cancels not yet due are dropped (those jobs just run).
  await app.close();
  journal.close();
  process.send?.({ stopped: true, emitted: seq });
  process.exit(0);
}
