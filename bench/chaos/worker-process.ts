// One chaos worker: the product as users run it (a Nest application context with RedisQueueModule and a
// @QueueHandler), connected to Redis through the harness's fault proxy. Configured by environment (see
// WorkerEnv in cluster.ts); journals every handler start, completion, failure and abort, and the
// module's own warnings, to its own append-only file.
import { clockSkewMs } from './clock-skew.js';
import 'reflect-metadata';
import { Injectable, LoggerService, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JobContext, QueueHandler, RedisQueueModule } from 'nestjs-redis-queue';
import { DEFAULT_ATTEMPTS, PREFIX, QUEUE, RULES, RULES_QUEUE, TICK_QUEUE, TICK_SCHEDULE } from './jobs.js';
import type { ChaosPayload } from './jobs.js';
import { Journal } from './journal.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`worker-process: ${name} is not set`);
  return value;
};

const journal = new Journal(env('CHAOS_JOURNAL'));
const inst = env('CHAOS_INST');
journal.write({ e: 'hello', inst, slot: Number(env('CHAOS_SLOT')), pid: process.pid, skew: clockSkewMs, at: Date.now() });

// The machine is shared and may be overloaded: journal each time this process's event loop ran late
// enough to hold up lease renewals (the checker counts a long one as a stall of this worker, as it does
// a network fault; the summary reports them).
const LAG_TICK_MS = 100;
let tickDue = performance.now() + LAG_TICK_MS;
setInterval(() => {
  const now = performance.now();
  const late = now - tickDue;
  if (late >= 200) journal.write({ e: 'lag', at: Date.now(), ms: Math.round(late) });
  tickDue = now + LAG_TICK_MS;
}, LAG_TICK_MS).unref();

/** Nest's logger for this process: every line into the journal (the harness counts lease-loss warnings). */
class JournalLogger implements LoggerService {
  log(message: unknown): void {
    journal.write({ e: 'log', level: 'log', at: Date.now(), msg: String(message) });
  }
  warn(message: unknown): void {
    // The planned failures of flaky and poison jobs are the bulk of the warnings and tell nothing new.
    if (/\(as planned\); retrying in \d+ ms$/.test(String(message))) return;
    journal.write({ e: 'log', level: 'warn', at: Date.now(), msg: String(message) });
  }
  error(message: unknown, stack?: unknown): void {
    journal.write({ e: 'log', level: 'error', at: Date.now(), msg: String(message) + (stack ? ` ${String(stack).split('\n')[0]}` : '') });
  }
}

/** Sleeps `ms`, or rejects with the signal's reason as soon as the delivery is aborted. */
function work(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

@Injectable()
class ChaosHandlers {
  @QueueHandler(QUEUE, { concurrency: Number(env('CHAOS_CONCURRENCY')) })
  async run(payload: ChaosPayload, job: JobContext): Promise<void> {
    const startedAt = Date.now();
    journal.write({ e: 'start', id: job.id, attempt: job.attempt, at: startedAt, enqueuedAt: job.enqueuedAt.getTime() });
    job.signal.addEventListener(
      'abort',
      () => {
        const reason = job.signal.reason as Error | undefined;
        journal.write({ e: 'abort', id: job.id, attempt: job.attempt, at: Date.now(), reason: reason?.name ?? String(reason) });
      },
      { once: true },
    );
    await work(payload.work, job.signal);
    if (payload.kind === 'poison' || (payload.kind === 'flaky' && job.attempt === 1)) {
      journal.write({ e: 'throw', id: job.id, attempt: job.attempt, at: Date.now() });
      throw new Error(`${payload.kind} job ${job.id} fails on attempt ${job.attempt} (as planned)`);
    }
    // A handler that honours its signal: an aborted delivery (lease lost, released at shutdown) does not
    // count as done. Checked in the same tick as the journal line and the return, so nothing slips between.
    if (job.signal.aborted) throw job.signal.reason as Error;
    journal.write({ e: 'done', id: job.id, attempt: job.attempt, at: Date.now(), startedAt });
  }

  /**
   * The rules queue: queue-wide rate limit, global and group concurrency (stored in Redis by every worker
   * at start, the same everywhere). The start line carries the claim token, whose microseconds field is
   * Redis's clock when the claim script handed the job out (the checker derives the claim time from it).
   */
  @QueueHandler(RULES_QUEUE, {
    concurrency: RULES.concurrency,
    rateLimit: { ...RULES.rateLimit },
    globalConcurrency: RULES.globalConcurrency,
    groupConcurrency: RULES.groupConcurrency,
  })
  async rules(payload: ChaosPayload, job: JobContext): Promise<void> {
    const startedAt = Date.now();
    const q = RULES_QUEUE;
    // The worker's Delivery carries its claim (not part of the JobContext contract), as in test/fixtures/flow-worker.ts.
    const token = (job as unknown as { claim?: { token?: string } }).claim?.token;
    journal.write({ e: 'start', q, id: job.id, attempt: job.attempt, at: startedAt, enqueuedAt: job.enqueuedAt.getTime(), token, group: job.group });
    job.signal.addEventListener(
      'abort',
      () => {
        const reason = job.signal.reason as Error | undefined;
        journal.write({ e: 'abort', q, id: job.id, attempt: job.attempt, at: Date.now(), reason: reason?.name ?? String(reason) });
      },
      { once: true },
    );
    await work(payload.work, job.signal);
    if (payload.kind === 'flaky' && job.attempt === 1) {
      journal.write({ e: 'throw', q, id: job.id, attempt: job.attempt, at: Date.now() });
      throw new Error(`${payload.kind} job ${job.id} fails on attempt ${job.attempt} (as planned)`);
    }
    if (job.signal.aborted) throw job.signal.reason as Error;
    journal.write({ e: 'done', q, id: job.id, attempt: job.attempt, at: Date.now(), startedAt });
  }

  /** One schedule, declared here in every worker process: one job per tick across all of them. */
  @QueueHandler(TICK_QUEUE, { concurrency: 2, schedule: { name: TICK_SCHEDULE.name, every: TICK_SCHEDULE.every } })
  tick(_payload: unknown, job: JobContext): void {
    journal.write({ e: 'tick', id: job.id, attempt: job.attempt, at: Date.now(), enqueuedAt: job.enqueuedAt.getTime() });
  }
}

@Module({
  imports: [
    RedisQueueModule.forRoot({
      connection: env('CHAOS_REDIS_URL'),
      prefix: PREFIX,
      leaseDuration: Number(env('CHAOS_LEASE_MS')),
      shutdownTimeout: Number(env('CHAOS_SHUTDOWN_MS')),
      jobIdRetention: Number(env('CHAOS_ID_RETENTION_MS')),
      commandTimeout: 2000,
      defaults: { attempts: DEFAULT_ATTEMPTS, backoff: { type: 'exponential', delay: 100, maxDelay: 1000 } },
      checkRedisConfig: false,
    }),
  ],
  providers: [ChaosHandlers],
})
class ChaosWorkerModule {}

const app = await NestFactory.createApplicationContext(ChaosWorkerModule, { logger: new JournalLogger(), abortOnError: false });
// SIGTERM: stop claiming, let running jobs finish (shutdownTimeout), release the rest, close connections.
app.enableShutdownHooks();
process.send?.({ ready: true });
// The harness went away (even by SIGKILL): do not outlive it.
process.once('disconnect', () => process.exit(0));
