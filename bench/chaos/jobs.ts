import type { EnqueueOptions } from '../../libs/redis-queue/src/engine/index.js';
import { Random } from './random.js';

/** The queue every chaos job goes to, and the key prefix of the run. */
export const QUEUE = 'chaos';
export const PREFIX = 'chaos';

/**
 * What a job does in the handler:
 * - plain: a few ms of work;
 * - delayed: plain, due 0.2-3 s after enqueue (must never start before);
 * - flaky: throws on attempt 1, succeeds on any later one;
 * - poison: always throws; must end in the dead-letter set with every attempt used;
 * - long: outlives the lease several times over, so it only finishes if renewals work;
 * - probe: enqueued by the harness after healing, to prove every worker claims again.
 */
export type JobKind = 'plain' | 'delayed' | 'flaky' | 'poison' | 'long' | 'probe';

export interface ChaosPayload {
  kind: JobKind;
  /** ms the handler works (sleeps, abortably). */
  work: number;
}

/** Attempts of a poison job: it must be dead with exactly this many attempts made. */
export const POISON_ATTEMPTS = 3;
/** Module-wide attempts for every other job: generous, so only a real fault exhausts them. */
export const DEFAULT_ATTEMPTS = 8;

const MIX: Record<Exclude<JobKind, 'probe'>, number> = { plain: 58, delayed: 18, flaky: 10, poison: 8, long: 6 };

export interface PlannedJob {
  id: string;
  kind: JobKind;
  payload: ChaosPayload;
  options: EnqueueOptions;
  /** ms from enqueue until due (delayed jobs), else 0. */
  delay: number;
}

/** Draws the next job of the mix; `seq` makes its id, known before enqueue. */
export function planJob(random: Random, seq: number, leaseMs: number): PlannedJob {
  const kind = random.weighted(MIX);
  const id = `j-${seq}`;
  switch (kind) {
    case 'plain':
      return job(id, kind, random.int(0, 30));
    case 'delayed': {
      const delay = random.int(200, 3000);
      return job(id, kind, random.int(0, 20), { delay }, delay);
    }
    case 'flaky':
      return job(id, kind, random.int(0, 30), { backoff: { type: 'fixed', delay: random.int(50, 400) } });
    case 'poison':
      // Slow enough that kills sometimes land mid-attempt.
      return job(id, kind, random.int(20, 300), { attempts: POISON_ATTEMPTS, backoff: { type: 'fixed', delay: random.int(50, 300) } });
    case 'long':
      return job(id, kind, random.int(Math.round(leaseMs * 1.6), Math.round(leaseMs * 2.7)));
  }
}

function job(id: string, kind: JobKind, work: number, options: EnqueueOptions = {}, delay = 0): PlannedJob {
  return { id, kind, payload: { kind, work }, options: { ...options, jobId: id }, delay };
}

/**
 * The second queue, served by every worker process with queue-wide rules (see worker-process.ts), and the
 * checks of bench/chaos/rules-checker.ts: its rate limit, global and group concurrency, pauses (QueueAdmin,
 * from the nemesis) and cancels (from the producer) must hold across processes under the same faults.
 */
export const RULES_QUEUE = 'chaos-rules';
export const RULES = {
  /** Handlers of the queue per worker process. */
  concurrency: 4,
  rateLimit: { max: 20, duration: 500 },
  globalConcurrency: 6,
  groupConcurrency: 2,
} as const;
/** The tenants (`group`) of the rules queue's jobs. */
export const GROUPS = ['t1', 't2', 't3', 't4', 't5'] as const;

/** A queue with one schedule, declared by the handler of every worker process: one job per tick. */
export const TICK_QUEUE = 'chaos-tick';
export const TICK_SCHEDULE = { name: 'tick', every: 1000 } as const;

export interface PlannedRulesJob extends PlannedJob {
  /** Cancel it this many ms after its enqueue was acknowledged (tracked jobs only). */
  cancelAfter?: number;
}

/**
 * The rules queue's mix: short and slower jobs (slow enough to be cancelled while running), some delayed
 * (cancelled while delayed), some flaky; most in a group, the others with a priority now and then (a
 * job cannot have both). A quarter tracked, half of those cancelled at a seeded moment.
 */
export function planRulesJob(random: Random, seq: number): PlannedRulesJob {
  const id = `r-${seq}`;
  const roll = random.next();
  const kind: JobKind = roll < 0.15 ? 'delayed' : roll < 0.25 ? 'flaky' : 'plain';
  const work = random.chance(0.5) ? random.int(2, 30) : random.int(100, 600);
  const delay = kind === 'delayed' ? random.int(200, 3000) : 0;
  const options: EnqueueOptions = { jobId: id };
  if (delay > 0) options.delay = delay;
  if (kind === 'flaky') options.backoff = { type: 'fixed', delay: random.int(50, 400) };
  if (random.chance(0.7)) options.group = random.pick(GROUPS);
  else if (random.chance(0.6)) options.priority = random.int(1, 10);
  const planned: PlannedRulesJob = { id, kind, payload: { kind, work }, options, delay };
  if (random.chance(0.25)) {
    options.track = true;
    if (random.chance(0.5)) planned.cancelAfter = random.int(0, delay > 0 ? delay + 600 : 900);
  }
  return planned;
}
