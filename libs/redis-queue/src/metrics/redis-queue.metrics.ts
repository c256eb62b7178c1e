import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Counter, Histogram, Registry } from 'prom-client';
import { JobObserver, JobOutcome, MissingPackageError, ObservedJob, QueueAdmin, QueueInspector, RedisQueueError } from '../engine/index.js';
import { REDIS_QUEUE_LOGGER } from '../redis-queue.constants.js';
import { RedisQueueInstrumentation } from '../redis-queue.instrumentation.js';
import { metricsMessages } from './metrics.messages.js';

/** DI token of the metrics options. */
export const REDIS_QUEUE_METRICS_OPTIONS = Symbol('REDIS_QUEUE_METRICS_OPTIONS');

/** The part of a prom-client `Registry` used here (any prom-client 15 registry fits). */
export interface MetricsRegistry {
  registerMetric(metric: never): void;
  removeSingleMetric(name: string): void;
}

/** Options of `RedisQueueMetricsModule.forRoot`. */
export interface RedisQueueMetricsOptions {
  /**
   * The prom-client registry to register in. Default: prom-client's global `register`, the one
   * `@willsoto/nestjs-prometheus` and most setups serve at `/metrics`.
   */
  registry?: MetricsRegistry;
  /** Prefix of every metric name. Default: `'rq_'`. */
  prefix?: string;
  /** Queues whose counts are read at each scrape. Default: every queue used under the module's prefix. */
  queues?: readonly string[];
  /** Bucket bounds, in seconds, of the run-time and wait-time histograms. Default: 1 ms to 5 minutes. */
  buckets?: readonly number[];
}

export const DEFAULT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Per-queue children of the counters and histograms, so that the hot path never builds label sets. */
interface QueueSeries {
  completed: Counter.Internal;
  failed: Counter.Internal;
  retried: Counter.Internal;
  dead: Counter.Internal;
  cancelled: Counter.Internal;
  wait: Histogram.Internal<string>;
  run: Map<JobOutcome, Histogram.Internal<string>>;
}

interface Snapshot {
  counts: Map<string, { ready: number; delayed: number; active: number; dead: number; paused: boolean }>;
  workers: Map<string, number>;
  processes: number;
}

type PromClient = typeof import('prom-client');

/**
 * Prometheus metrics of the queues (prom-client, an optional peer loaded when the module starts):
 *
 * - counters per queue of the jobs this process's workers ran: `rq_jobs_completed_total`,
 *   `rq_jobs_failed_total` (attempts that threw, retried or not), `rq_jobs_retried_total`,
 *   `rq_jobs_dead_total`, `rq_jobs_cancelled_total`;
 * - histograms `rq_job_run_seconds{queue,outcome}` and `rq_job_wait_seconds{queue}` (from enqueue, or
 *   from the due time of a delayed job or retry, to the start of the attempt);
 * - gauges read from Redis at each scrape, in one pipeline: `rq_queue_jobs{queue,state}`,
 *   `rq_queue_paused{queue}`, `rq_workers_alive{queue}` and `rq_worker_processes`.
 *
 * The counters and histograms are this process's (sum them across instances); the gauges are the
 * queues' own, the same from every instance.
 */
@Injectable()
export class RedisQueueMetrics implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(REDIS_QUEUE_LOGGER);
  private readonly series = new Map<string, QueueSeries>();
  private readonly names: string[] = [];
  private registry?: MetricsRegistry;
  private counters?: Record<'completed' | 'failed' | 'retried' | 'dead' | 'cancelled', Counter<'queue'>>;
  private runTime?: Histogram<'queue' | 'outcome'>;
  private waitTime?: Histogram<'queue'>;
  private reading?: Promise<Snapshot | undefined>;

  constructor(
    @Inject(REDIS_QUEUE_METRICS_OPTIONS) private readonly options: RedisQueueMetricsOptions,
    private readonly inspector: QueueInspector,
    private readonly admin: QueueAdmin,
    private readonly instrumentation: RedisQueueInstrumentation,
  ) {}

  /** The observer that feeds the counters and histograms (added to the module's worker loops). */
  readonly observer: JobObserver = {
    started: (job: ObservedJob, waitMs: number) => this.seriesOf(job.queue)?.wait.observe(waitMs / 1000),
    finished: (job: ObservedJob, outcome: JobOutcome, runMs: number) => {
      const s = this.seriesOf(job.queue);
      if (!s) return;
      let run = s.run.get(outcome);
      if (!run) s.run.set(outcome, (run = this.runTime!.labels(job.queue, outcome)));
      run.observe(runMs / 1000);
      switch (outcome) {
        case 'completed':
          s.completed.inc();
          break;
        case 'retried':
          s.failed.inc();
          s.retried.inc();
          break;
        case 'dead':
          s.failed.inc();
          s.dead.inc();
          break;
        case 'cancelled':
          s.cancelled.inc();
          break;
      }
    },
  };

  async onModuleInit(): Promise<void> {
    let client: PromClient;
    try {
      client = await import('prom-client');
    } catch (error) {
      throw new MissingPackageError('prom-client', metricsMessages.missingPromClient((error as Error).message), { cause: error });
    }
    this.register(client);
    this.instrumentation.addObserver(this.observer);
  }

  onModuleDestroy(): void {
    for (const name of this.names.splice(0)) this.registry?.removeSingleMetric(name);
    this.series.clear();
  }

  private register(client: PromClient): void {
    const registry = (this.options.registry ?? client.register) as unknown as Registry;
    this.registry = registry as unknown as MetricsRegistry;
    const p = this.options.prefix ?? 'rq_';
    const buckets = [...(this.options.buckets ?? DEFAULT_BUCKETS)];
    const registers = [registry];
    const make = <T>(name: string, create: () => T): T => {
      try {
        const metric = create();
        this.names.push(name);
        return metric;
      } catch (error) {
        this.onModuleDestroy();
        throw new RedisQueueError(metricsMessages.alreadyRegistered(name, (error as Error).message), { cause: error });
      }
    };
    const counter = (what: string, help: string) =>
      make(`${p}jobs_${what}_total`, () => new client.Counter({ name: `${p}jobs_${what}_total`, help, labelNames: ['queue'] as const, registers }));
    this.counters = {
      completed: counter('completed', 'Jobs completed by this process'),
      failed: counter('failed', 'Attempts that failed in this process (retried or dead-lettered)'),
      retried: counter('retried', 'Failed attempts that will be retried'),
      dead: counter('dead', 'Jobs dead-lettered by this process'),
      cancelled: counter('cancelled', 'Running jobs cancelled in this process'),
    };
    this.runTime = make(
      `${p}job_run_seconds`,
      () => new client.Histogram({ name: `${p}job_run_seconds`, help: 'Time an attempt ran, by outcome', labelNames: ['queue', 'outcome'] as const, buckets, registers }),
    );
    this.waitTime = make(
      `${p}job_wait_seconds`,
      () =>
        new client.Histogram({
          name: `${p}job_wait_seconds`,
          help: 'Time from enqueue (or due time, for delayed jobs and retries) to the start of an attempt',
          labelNames: ['queue'] as const,
          buckets,
          registers,
        }),
    );
    const read = () => this.snapshot();
    make(
      `${p}queue_jobs`,
      () =>
        new client.Gauge({
          name: `${p}queue_jobs`,
          help: 'Jobs in each state, read from Redis at scrape time',
          labelNames: ['queue', 'state'] as const,
          registers,
          async collect() {
            const s = await read();
            this.reset();
            for (const [queue, c] of s?.counts ?? []) {
              for (const state of ['ready', 'delayed', 'active', 'dead'] as const) this.set({ queue, state }, c[state]);
            }
          },
        }),
    );
    make(
      `${p}queue_paused`,
      () =>
        new client.Gauge({
          name: `${p}queue_paused`,
          help: '1 while the queue is paused',
          labelNames: ['queue'] as const,
          registers,
          async collect() {
            const s = await read();
            this.reset();
            for (const [queue, c] of s?.counts ?? []) this.set({ queue }, c.paused ? 1 : 0);
          },
        }),
    );
    make(
      `${p}workers_alive`,
      () =>
        new client.Gauge({
          name: `${p}workers_alive`,
          help: 'Worker processes alive that run the queue (by their heartbeats)',
          labelNames: ['queue'] as const,
          registers,
          async collect() {
            const s = await read();
            this.reset();
            for (const [queue, n] of s?.workers ?? []) this.set({ queue }, n);
          },
        }),
    );
    make(
      `${p}worker_processes`,
      () =>
        new client.Gauge({
          name: `${p}worker_processes`,
          help: 'Worker processes alive under the prefix (by their heartbeats)',
          registers,
          async collect() {
            const s = await read();
            if (s) this.set(s.processes);
          },
        }),
    );
  }

  private seriesOf(queue: string): QueueSeries | undefined {
    let s = this.series.get(queue);
    if (s || !this.counters) return s;
    const c = this.counters;
    s = {
      completed: c.completed.labels(queue),
      failed: c.failed.labels(queue),
      retried: c.retried.labels(queue),
      dead: c.dead.labels(queue),
      cancelled: c.cancelled.labels(queue),
      wait: this.waitTime!.labels(queue),
      run: new Map(),
    };
    this.series.set(queue, s);
    return s;
  }

  /** One read of Redis per scrape, shared by every gauge's collect (they run at once). */
  private snapshot(): Promise<Snapshot | undefined> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<Snapshot | undefined> {
    try {
      const [queues, workers] = await Promise.all([this.options.queues ? [...this.options.queues] : this.inspector.queues(), this.admin.workers()]);
      const counts = await this.inspector.countsOf(queues);
      const perQueue = new Map<string, number>(queues.map((q) => [q, 0]));
      for (const w of workers) for (const { queue } of w.queues) perQueue.set(queue, (perQueue.get(queue) ?? 0) + 1);
      return { counts, workers: perQueue, processes: workers.length };
    } catch (error) {
      this.logger.warn(metricsMessages.scrapeFailed((error as Error).message));
      return undefined;
    }
  }
}
