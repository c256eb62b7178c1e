// The opt-in features phase: what each feature costs per job, beside the plain path, on the same Redis and
// worker process. Each round runs the plain path, then every feature, on fresh jobs; each row keeps its
// best rate and lowest Redis CPU over the rounds, and is compared with the plain row of the same rounds.
import { Redis } from 'ioredis';
import { BenchJob, JobFeatures, LibraryId, ProducerAdapter, QUEUE, WorkerFeatures } from './adapters/index.js';
import type { Config } from './config.js';
import { CommandSummary, usedMemory } from './redis-stats.js';
import { FeatureResults, FeatureRow, round } from './results.js';

export interface MeasuredRun {
  jobsPerSec: number;
  seconds: number;
  startupMs?: number;
  cpuUsecPerJob: number;
  /** CPU of the worker process per job (its start included). */
  workerCpuUsecPerJob: number;
  stats: CommandSummary;
}

/** What the feature phase needs of a column's run. */
export interface FeatureHost {
  readonly lib: LibraryId;
  readonly admin: Redis;
  readonly producer: ProducerAdapter;
  readonly concurrency: number;
  jobs(count: number, from: number, options?: (i: number) => JobFeatures | undefined): BenchJob[];
  timedEnqueue(jobs: BenchJob[]): Promise<number>;
  measuredRun(n: number, on: { features?: WorkerFeatures }): Promise<MeasuredRun>;
  /** A short unmeasured run (a fresh worker process is not warm yet). */
  warmUp(): Promise<void>;
}

/** How one library does a feature in its run. */
interface Side {
  how: string;
  job?: (i: number, config: Config) => JobFeatures;
  worker?: WorkerFeatures;
  /** Listen to completed events in the benchmark's process while the jobs run. */
  listen?: true;
}

interface Feature {
  key: string;
  label: string;
  /** Per library; a library without the feature has no entry. */
  sides: Partial<Record<LibraryId, Side>>;
}

/** Far above any library's throughput here: what is measured is the limiter's overhead. */
const RATE_LIMIT = { max: 1_000_000, duration: 100 };
const GLOBAL_CONCURRENCY = 100_000;
/** Levels 1-10 and none (the default level), in turn. */
const mixedPriority = (i: number): JobFeatures => (i % 11 === 0 ? {} : { priority: i % 11 });

const FEATURES: Feature[] = [
  {
    key: 'plain',
    label: 'plain (no opt-in feature)',
    sides: { ours: { how: 'as the processing row' }, bullmq: { how: 'as the processing row' } },
  },
  {
    key: 'tracked',
    label: 'tracking on',
    sides: {
      ours: { how: 'enqueue option track: true (findable by id; kept 24 h after it finished)', job: () => ({ track: true }) },
      bullmq: { how: 'finished jobs kept 24 h (removeOnComplete: { age: 86400 }); its jobs are findable by id anyway', worker: { keepFinishedSeconds: 86_400 } },
    },
  },
  {
    key: 'events',
    label: 'completed events listened to in another process',
    sides: {
      ours: { how: 'engine QueueEvents on "completed" (what @OnQueueEvent runs) in the benchmark process', listen: true },
      bullmq: { how: 'QueueEvents on "completed" in the benchmark process', listen: true },
    },
  },
  {
    key: 'progress',
    label: 'progress reported by every job',
    sides: {
      ours: { how: 'tracked jobs (progress is kept for tracked jobs); await job.progress(50) in every handler', job: () => ({ track: true }), worker: { progress: true } },
      bullmq: { how: 'await job.updateProgress(50) in every handler', worker: { progress: true } },
    },
  },
  {
    key: 'priorities',
    label: 'priorities in use (levels 1-10 and none, mixed)',
    sides: {
      ours: { how: 'enqueue option priority: i % 11 (none when 0)', job: mixedPriority },
      bullmq: { how: 'job option priority: i % 11 (none when 0)', job: mixedPriority },
    },
  },
  {
    key: 'rateLimit',
    label: 'rate limit far above the throughput (overhead only)',
    sides: {
      ours: { how: `handler option rateLimit { max: ${RATE_LIMIT.max}, duration: ${RATE_LIMIT.duration} }`, worker: { rateLimit: RATE_LIMIT } },
      bullmq: { how: `Worker limiter { max: ${RATE_LIMIT.max}, duration: ${RATE_LIMIT.duration} }`, worker: { rateLimit: RATE_LIMIT } },
    },
  },
  {
    key: 'globalConcurrency',
    label: 'global concurrency far above the worker\'s (overhead only)',
    sides: {
      ours: { how: `handler option globalConcurrency: ${GLOBAL_CONCURRENCY}`, worker: { globalConcurrency: GLOBAL_CONCURRENCY } },
      bullmq: { how: `Queue.setGlobalConcurrency(${GLOBAL_CONCURRENCY})`, worker: { globalConcurrency: GLOBAL_CONCURRENCY } },
    },
  },
  {
    key: 'metrics',
    label: 'Prometheus metrics (RedisQueueMetrics)',
    sides: {
      ours: { how: 'RedisQueueMetrics observing every attempt: counters and run/wait histograms (prom-client, a registry of its own)', worker: { metrics: true } },
    },
  },
  {
    key: 'tracing',
    label: 'OpenTelemetry tracing',
    sides: {
      ours: {
        how: 'an SDK registered (BasicTracerProvider, BatchSpanProcessor to an exporter that drops): jobs enqueued inside an active span carry its traceparent, each attempt runs in a CONSUMER span',
        job: () => ({ traced: true }),
        worker: { tracing: true },
      },
    },
  },
  {
    key: 'groups',
    label: 'groups in use (10,000 active)',
    sides: {
      // BullMQ's groups are part of its paid tier (BullMQ Pro): no equivalent here.
      ours: { how: 'enqueue option group: one of 10,000 in turn', job: (i, config) => ({ group: `tenant-${i % config.featureGroups}` }) },
    },
  },
];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The features one library has (the plain row first). */
export function featuresOf(lib: LibraryId): { key: string; label: string }[] {
  return FEATURES.filter((f) => f.sides[lib]).map(({ key, label }) => ({ key, label }));
}

interface Sample {
  run: MeasuredRun;
  enqueueSeconds: number;
  waitingBytes: number;
  finishedBytes: number;
  heard?: number;
}

/** One run of a feature: fresh jobs enqueued (listening first, if it listens), processed, memory read around it. */
async function runOnce(host: FeatureHost, side: Side, n: number, config: Config): Promise<Sample> {
  const { admin, producer } = host;
  await admin.flushall();
  await sleep(100);
  const mem0 = await usedMemory(admin);
  let heard = 0;
  const stopListening = side.listen ? await producer.listenCompleted?.(QUEUE, () => heard++) : undefined;
  if (side.listen && !stopListening) throw new Error('this library has no events to listen to');
  try {
    const jobs = host.jobs(n, 0, side.job ? (i) => side.job!(i, config) : undefined);
    const enqueueSeconds = await host.timedEnqueue(jobs);
    await sleep(100);
    const mem1 = await usedMemory(admin);
    const run = await host.measuredRun(n, { features: side.worker });
    if (stopListening) {
      // Events arrive after the jobs settled; wait while they still come in (bounded streams may drop some).
      let last = -1;
      for (let waited = 0; heard < n && heard !== last && waited < 10_000; waited += 500) {
        last = heard;
        await sleep(500);
      }
    }
    await sleep(100);
    const mem2 = await usedMemory(admin);
    return { run, enqueueSeconds, waitingBytes: (mem1 - mem0) / n, finishedBytes: (mem2 - mem0) / n, heard: stopListening ? heard : undefined };
  } finally {
    await stopListening?.();
  }
}

export async function runFeatures(host: FeatureHost, config: Config): Promise<FeatureResults> {
  const n = host.lib === 'ours' ? config.featureJobs.ours : config.featureJobs.peers;
  const features = FEATURES.filter((f) => f.sides[host.lib]);
  await host.warmUp();
  const samples = new Map<string, Sample[]>();
  const errors = new Map<string, string>();
  for (let r = 0; r < config.featureRounds; r++) {
    for (const feature of features) {
      if (errors.has(feature.key)) continue;
      try {
        const sample = await runOnce(host, feature.sides[host.lib]!, n, config);
        samples.set(feature.key, [...(samples.get(feature.key) ?? []), sample]);
        process.stderr.write(`[bench]   ${feature.key}: ${Math.round(sample.run.jobsPerSec)} jobs/s\n`);
      } catch (error) {
        errors.set(feature.key, (error as Error).message);
        process.stderr.write(`[bench]   ${feature.key}: FAILED ${(error as Error).message}\n`);
      }
    }
  }
  await host.admin.flushall();
  const rows: FeatureRow[] = features.map((feature) => {
    const side = feature.sides[host.lib]!;
    const list = samples.get(feature.key) ?? [];
    const base = { key: feature.key, label: feature.label, how: side.how };
    if (list.length === 0) {
      const nothing = { jobsPerSec: NaN, runs: [], enqueuePerSec: NaN, redisCpuUsecPerJob: NaN, redisCallsPerJob: NaN, commandsPerJob: {} };
      return { ...base, ...nothing, bytesPerWaitingJob: NaN, bytesPerFinishedJob: NaN, error: errors.get(feature.key) };
    }
    const row: FeatureRow = {
      ...base,
      jobsPerSec: Math.round(Math.max(...list.map((s) => s.run.jobsPerSec))),
      runs: list.map((s) => Math.round(s.run.jobsPerSec)),
      enqueuePerSec: Math.round(n / Math.min(...list.map((s) => s.enqueueSeconds))),
      redisCpuUsecPerJob: round(Math.min(...list.map((s) => s.run.cpuUsecPerJob)), 2),
      redisCallsPerJob: round(list[0].run.stats.calls / n, 3),
      commandsPerJob: Object.fromEntries(
        Object.entries(list[0].run.stats.byCommand)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 12)
          .map(([command, calls]) => [command, round(calls / n, 4)]),
      ),
      bytesPerWaitingJob: round(Math.min(...list.map((s) => s.waitingBytes)), 1),
      bytesPerFinishedJob: round(Math.min(...list.map((s) => s.finishedBytes)), 1),
    };
    if (side.listen) row.eventsHeard = Math.min(...list.map((s) => s.heard ?? 0));
    if (errors.has(feature.key)) row.error = errors.get(feature.key);
    return row;
  });
  const plain = rows.find((row) => row.key === 'plain');
  if (plain && Number.isFinite(plain.jobsPerSec)) {
    for (const row of rows) {
      if (row === plain || !Number.isFinite(row.jobsPerSec)) continue;
      row.throughputRatio = round(row.jobsPerSec / plain.jobsPerSec, 3);
      row.redisCpuRatio = round(row.redisCpuUsecPerJob / plain.redisCpuUsecPerJob, 3);
    }
  }
  return { jobs: n, rounds: config.featureRounds, concurrency: host.concurrency, rows };
}
