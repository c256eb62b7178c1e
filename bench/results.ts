import type { LibraryId } from './adapters/index.js';

/** Every figure measured for one library (or for ours with validation on). */
export interface LibraryResult {
  library: LibraryId;
  label: string;
  version: string;
  validated: boolean;
  /** The validator of a validated run of ours. */
  validator?: string;
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
    /** Every Redis command per job, including those called inside Lua (INFO commandstats). */
    redisCallsPerJob: number;
    /** EVAL/EVALSHA per job. */
    scriptCallsPerJob: number;
    /** µs of Lua script execution per job (commandstats usec of EVALSHA/EVAL). */
    scriptUsecPerJob: number;
    /** Redis CPU (user + sys, INFO cpu) per job, including network I/O. */
    redisCpuUsecPerJob: number;
    commandsPerJob: Record<string, number>;
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
