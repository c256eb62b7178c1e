import type { LibraryId } from './adapters/index.js';

/** Every figure measured for one column: a library, or ours with validation on or through its Nest API. */
export interface LibraryResult {
  library: LibraryId;
  label: string;
  version: string;
  validated: boolean;
  /** The validator of a validated run of ours. */
  validator?: string;
  /** ours: the API driven (engine classes, or the Nest apps). */
  api?: 'engine' | 'nest';
  settings: string;
  bulkCall: string;
  concurrency?: { chosen: number; trials: { concurrency: number; jobsPerSec: number }[] };
  /** The better of two runs (`runs`: each run's jobs/s). */
  bulkEnqueue?: { jobs: number; seconds: number; jobsPerSec: number; runs: number[] };
  memory?: { jobs: number; bytes: number; bytesPerWaitingJob: number };
  /** The better of two runs (`runs`: each run's jobs/s). */
  processing?: {
    jobs: number;
    concurrency: number;
    seconds: number;
    jobsPerSec: number;
    runs: number[];
    /** What the time runs from: the first handler start, or `app.init()` of the Nest worker app (to the last ack). */
    timedFrom: 'first handler start' | 'app.init()';
    /** Nest: ms from `app.init()` to the first handler start, in the kept run. */
    startupMs?: number;
    /** Every Redis command per job, including those called inside Lua (INFO commandstats). */
    redisCallsPerJob: number;
    /** EVAL/EVALSHA per job. */
    scriptCallsPerJob: number;
    /** µs of Lua script execution per job (commandstats usec of EVALSHA/EVAL). */
    scriptUsecPerJob: number;
    /** Redis CPU (user + sys, INFO cpu) per job, including network I/O. */
    redisCpuUsecPerJob: number;
    /** CPU of the worker process (user + sys, every thread, its start included) per job; the lower of the two runs. */
    workerCpuUsecPerJob?: number;
    commandsPerJob: Record<string, number>;
  };
  /** Single-job enqueue calls from `callers` concurrent callers (each awaits its call, then makes the next); the better of two runs. */
  concurrentEnqueue?: {
    jobs: number;
    callers: number;
    seconds: number;
    jobsPerSec: number;
    runs: number[];
    /** Of the faster run: Redis CPU, and the producing process's CPU (callers, library, socket), per job. */
    redisCpuUsecPerJob?: number;
    clientCpuUsecPerJob?: number;
  };
  roundTrips?: { jobs: number; clientCommandsPerJob: number; byCommand: Record<string, number> };
  idle?: { seconds: number; clientCommandsPerSec: number; redisCallsPerSec: number; byCommand: Record<string, number> };
  /** The run with the lower p99 of two (`runsP99`: both p99s). Loop delays show how starved each process was. */
  latency?: {
    ratePerSec: number;
    seconds: number;
    jobs: number;
    p50: number;
    p99: number;
    max: number;
    mean: number;
    sendErrors: number;
    producerLoopDelayP99: number;
    workerLoopDelayP99: number;
    runsP99: number[];
  };
  delayed?: { jobs: number; minDelayMs: number; maxDelayMs: number; min: number; p50: number; p99: number; max: number; early: number };
  /** Lateness of schedule ticks: handler start (Date.now()) minus the tick's time, ms; negative = early. */
  schedules?: { schedules: number; everyMs: number[]; jobs: number; seconds: number; min: number; p50: number; p99: number; max: number; early: number };
  /** Opt-in features, each beside the plain path in alternating runs on the same worker process. */
  features?: FeatureResults;
  /** A fresh worker process with many queues, idle: its connections to Redis and its commands. */
  queues?: QueuesResult[];
  scale?:
    | {
        delayedJobs: number;
        loadSeconds: number;
        bytesPerDelayedJob: number;
        bulkEnqueuePerSec: number;
        jobs: number;
        /** With the delayed jobs in the queue: the better of two runs (`runs`: each run's jobs/s). */
        jobsPerSec: number;
        runs: number[];
        /** The same runs on a queue without delayed jobs, alternating with those above. */
        baselineJobsPerSec: number;
        baselineRuns: number[];
        redisCallsPerJob: number;
        scriptUsecPerJob: number;
        redisCpuUsecPerJob: number;
        baselineRedisCpuUsecPerJob: number;
        /** With the delayed jobs / without (the alternating runs). */
        throughputRatio: number;
        redisCpuRatio: number;
        scriptUsecRatio: number;
      }
    | { skipped: string };
  errors: string[];
}

/** One run kind of the feature phase (the plain path or one feature). */
export interface FeatureRow {
  key: string;
  label: string;
  /** How the library does it in this run. */
  how: string;
  /** Processing rate: the best of the rounds (`runs`: each round's). */
  jobsPerSec: number;
  runs: number[];
  /** Bulk enqueue rate of the same jobs (the better of the rounds). */
  enqueuePerSec: number;
  /** Redis CPU per processed job (the lower of the rounds), µs. */
  redisCpuUsecPerJob: number;
  /** Redis commands per processed job, incl. those inside Lua (first round). */
  redisCallsPerJob: number;
  /** The same by command, most frequent first (first round): where the feature's cost goes. */
  commandsPerJob: Record<string, number>;
  /** Redis memory per job while the jobs wait, B. */
  bytesPerWaitingJob: number;
  /** Redis memory still held per job once every job finished, B (tracked jobs stay findable). */
  bytesPerFinishedJob: number;
  /** events: completed events the listening process heard, of `jobs`. */
  eventsHeard?: number;
  /** Against the plain row of the same rounds. */
  throughputRatio?: number;
  redisCpuRatio?: number;
  error?: string;
}

export interface FeatureResults {
  jobs: number;
  rounds: number;
  concurrency: number;
  rows: FeatureRow[];
}

export interface QueuesResult {
  queues: number;
  /** ms from asking the fresh worker process to start to its worker(s) running. */
  startMs: number;
  /** Connections the worker opened (CLIENT LIST with it running, less the count before it started). */
  connections: number;
  idleSeconds: number;
  /** Commands the worker process sent per second while idle (MONITOR). */
  clientCommandsPerSec: number;
  /** Every command Redis ran per second, incl. Lua (INFO commandstats). */
  redisCallsPerSec: number;
  byCommand: Record<string, number>;
}

export interface TargetResult {
  name: string;
  target: string;
  measured: string;
  /** null: not measured in this run. */
  pass: boolean | null;
}

export interface BenchReport {
  bench: 'nestjs-redis-queue';
  mode: 'quick' | 'full';
  date: string;
  command: string;
  machine: Record<string, string | number>;
  config: Record<string, unknown>;
  libraries: Record<string, LibraryResult>;
  ratiosVsBullmq: Record<string, Record<string, number | null>>;
  targets: TargetResult[];
  durationSeconds: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

export const round = (n: number, digits = 2): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};
