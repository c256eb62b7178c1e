// One column's run (a library, or ours validated / through its Nest API): its producer in this process,
// its worker child, and every phase it takes part in.
import { monitorEventLoopDelay } from 'perf_hooks';
import { Redis } from 'ioredis';
import { BenchJob, createProducer, librarySettings, pollCommands, ProducerAdapter, QUEUE, SCALE_QUEUE, WorkerFeatures } from './adapters/index.js';
import { WorkerChild } from './child.js';
import { Column, columnPhases, Config, Phase } from './config.js';
import { FeatureHost, MeasuredRun, runFeatures } from './features.js';
import { emailJob, monoMs, WelcomeEmail } from './payload.js';
import { clientCount, CommandMonitor, commandStats, redisCpuSeconds, summarize, usedMemory } from './redis-stats.js';
import { LibraryResult, percentile, QueuesResult, round } from './results.js';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
export const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

/** Concurrency of each queue in the connection-budget runs (idle: it only sizes the workers). */
const QUEUES_CONCURRENCY = 10;
/**
 * Shortest idle window of the connection-budget runs: a worker app's periodic work runs every 10 s at most
 * (the worker registry's heartbeat), and a shorter window can miss it.
 */
const QUEUES_IDLE_SECONDS = 10;

export class LibraryRun implements FeatureHost {
  readonly result: LibraryResult;
  producer!: ProducerAdapter;
  private child!: WorkerChild;
  private best = 0;
  private tornDown = false;
  private readonly phases: ReadonlySet<Phase>;

  constructor(
    readonly column: Column,
    private readonly config: Config,
    private readonly url: string,
    readonly admin: Redis,
    private readonly adminAddress: string,
    version: string,
  ) {
    this.phases = columnPhases(column);
    this.result = {
      library: column.lib,
      label: column.label,
      version,
      validated: column.validator !== undefined,
      validator: column.validator,
      api: column.lib === 'ours' ? column.api : undefined,
      settings: '',
      bulkCall: '',
      errors: [],
    };
  }

  get lib() {
    return this.column.lib;
  }

  /** `count` jobs starting at `from`; `options` gives each one's feature options. */
  jobs(count: number, from = 0, options?: BenchJob['options'] | ((i: number) => BenchJob['options'])): BenchJob[] {
    const out: BenchJob[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const payload = emailJob(from + i);
      const job: BenchJob = { payload: this.column.validator === 'class-validator' ? WelcomeEmail.from(payload) : payload };
      const o = typeof options === 'function' ? options(from + i) : options;
      if (o) job.options = o;
      out[i] = job;
    }
    return out;
  }

  async setup(): Promise<void> {
    await this.admin.flushall();
    const options = { url: this.url, validate: this.column.validator, api: this.column.api };
    this.result.settings = await librarySettings(this.lib, options);
    this.producer = await createProducer(this.lib, options);
    this.result.bulkCall = this.producer.bulkCall;
    this.child = await this.spawnChild();
  }

  private spawnChild(): Promise<WorkerChild> {
    const { column, config } = this;
    const execArgv = config.cpuProf && column.key === 'ours' ? ['--cpu-prof', '--cpu-prof-dir=bench/results'] : [];
    return WorkerChild.spawn(this.lib, this.url, { validate: column.validator, api: column.api, execArgv });
  }

  async teardown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    await this.child?.exit().catch(() => this.child.kill());
    await this.producer?.close().catch(() => undefined);
    await this.admin.flushall();
  }

  /** True when this column runs `phase` and the run selected it. */
  runs(phase: Phase): boolean {
    return this.phases.has(phase) && this.config.phases.has(phase);
  }

  /** Runs one phase; a failure is recorded, the worker child replaced, and the run goes on. */
  async phase(key: Phase, name: string, body: () => Promise<void>): Promise<void> {
    if (!this.runs(key)) return;
    log(`${this.result.label}: ${name}`);
    try {
      await body();
    } catch (error) {
      const message = `${name}: ${(error as Error).message}`;
      log(`${this.result.label}: FAILED ${message}`);
      this.result.errors.push(message);
      this.child.kill();
      this.child = await this.spawnChild();
    }
  }

  private processTimeout(jobs: number): number {
    return 60_000 + jobs; // 1 ms per job beyond a minute: far beyond any library here
  }

  /**
   * Processes `count` waiting jobs at the chosen concurrency; jobs/s from the first handler start (the Nest
   * worker app: from `app.init()`) to the moment Redis shows none in flight.
   */
  private async processRun(
    count: number,
    concurrency: number,
    on: { queue?: string; features?: WorkerFeatures } = {},
  ): Promise<{ seconds: number; jobsPerSec: number; polls: number; startupMs?: number; workerCpuUsecPerJob: number }> {
    const report = await this.child.process({ concurrency, queue: on.queue, features: on.features }, count, this.processTimeout(count));
    if (report.handled < count) throw new Error(`only ${report.handled} of ${count} jobs handled`);
    const from = report.startedAt ?? report.firstStart;
    const seconds = (report.end - from) / 1000;
    const startupMs = report.startedAt === undefined ? undefined : round(report.firstStart - report.startedAt, 1);
    return { seconds, jobsPerSec: count / seconds, polls: report.polls, startupMs, workerCpuUsecPerJob: report.cpuUsec / count };
  }

  async warmUp(): Promise<void> {
    const n = Math.min(5000, this.config.trialJobs);
    await this.producer.enqueueBulk(this.jobs(n));
    const c = this.config.candidates[this.lib];
    await this.processRun(n, c[Math.floor(c.length / 2)]);
    await this.admin.flushall();
  }

  async chooseConcurrency(): Promise<void> {
    const trials: { concurrency: number; jobsPerSec: number }[] = [];
    for (const concurrency of this.config.candidates[this.lib]) {
      await this.admin.flushall();
      await this.producer.enqueueBulk(this.jobs(this.config.trialJobs));
      const { jobsPerSec } = await this.processRun(this.config.trialJobs, concurrency);
      trials.push({ concurrency, jobsPerSec: Math.round(jobsPerSec) });
      log(`${this.result.label}: concurrency ${concurrency}: ${Math.round(jobsPerSec)} jobs/s`);
    }
    const best = trials.reduce((a, b) => (b.jobsPerSec > a.jobsPerSec ? b : a));
    this.best = best.concurrency;
    this.result.concurrency = { chosen: best.concurrency, trials };
  }

  /** Uses the concurrency chosen for the same library's engine column. */
  useConcurrency(concurrency: number): void {
    this.best = concurrency;
    this.result.concurrency = { chosen: concurrency, trials: [] };
  }

  get concurrency(): number {
    return this.best;
  }

  /** Jobs of the bulk enqueue, memory and processing runs. */
  private get mainJobs(): number {
    return this.column.api === 'nest' ? Math.max(this.config.jobs, this.config.nestJobs) : this.config.jobs;
  }

  async bulkEnqueueAndMemory(): Promise<void> {
    const n = this.mainJobs;
    await this.admin.flushall();
    const jobs = this.jobs(n);
    await sleep(200);
    const before = await usedMemory(this.admin);
    const t0 = monoMs();
    await this.producer.enqueueBulk(jobs);
    const seconds = (monoMs() - t0) / 1000;
    await sleep(200);
    const after = await usedMemory(this.admin);
    this.result.bulkEnqueue = { jobs: n, seconds: round(seconds, 3), jobsPerSec: Math.round(n / seconds), runs: [Math.round(n / seconds)] };
    this.result.memory = { jobs: n, bytes: after - before, bytesPerWaitingJob: round((after - before) / n, 1) };
  }

  /** One processing run of `n` waiting jobs with Redis command and CPU accounting around it. */
  async measuredRun(n: number, on: { queue?: string; features?: WorkerFeatures } = {}): Promise<MeasuredRun> {
    await this.admin.config('RESETSTAT');
    const cpu0 = await redisCpuSeconds(this.admin);
    const run = await this.processRun(n, this.best, on);
    const cpu1 = await redisCpuSeconds(this.admin);
    const stats = summarize(await commandStats(this.admin), pollCommands(this.lib), run.polls);
    return {
      jobsPerSec: run.jobsPerSec,
      seconds: run.seconds,
      startupMs: run.startupMs,
      cpuUsecPerJob: ((cpu1 - cpu0) * 1e6) / n,
      workerCpuUsecPerJob: run.workerCpuUsecPerJob,
      stats,
    };
  }

  /** Enqueues `jobs` with the bulk API; returns the seconds it took. */
  async timedEnqueue(jobs: BenchJob[], queue?: string): Promise<number> {
    const t0 = monoMs();
    await this.producer.enqueueBulk(jobs, queue);
    return (monoMs() - t0) / 1000;
  }

  /**
   * Processes the jobs the bulk enqueue left waiting, then enqueues and processes as many again. The
   * machine is shared and noisy, so every library keeps its better rate of the two runs, and its lower
   * Redis CPU and Lua time per job; command counts come from the first run.
   */
  async processing(): Promise<void> {
    const n = this.mainJobs;
    if (!this.result.bulkEnqueue) {
      await this.admin.flushall();
      await this.producer.enqueueBulk(this.jobs(n));
    }
    const first = await this.measuredRun(n);
    await this.admin.flushall();
    const enqueueSeconds = await this.timedEnqueue(this.jobs(n));
    if (this.result.bulkEnqueue) {
      const b = this.result.bulkEnqueue;
      b.runs.push(Math.round(n / enqueueSeconds));
      if (enqueueSeconds < b.seconds) Object.assign(b, { seconds: round(enqueueSeconds, 3), jobsPerSec: Math.round(n / enqueueSeconds) });
    }
    const second = await this.measuredRun(n);
    const better = second.jobsPerSec > first.jobsPerSec ? second : first;
    const stats = first.stats;
    this.result.processing = {
      jobs: n,
      concurrency: this.best,
      seconds: round(better.seconds, 3),
      jobsPerSec: Math.round(better.jobsPerSec),
      runs: [Math.round(first.jobsPerSec), Math.round(second.jobsPerSec)],
      timedFrom: better.startupMs === undefined ? 'first handler start' : 'app.init()',
      startupMs: better.startupMs,
      redisCallsPerJob: round(stats.calls / n, 3),
      scriptCallsPerJob: round(stats.scriptCalls / n, 4),
      scriptUsecPerJob: round(Math.min(first.stats.scriptUsec, second.stats.scriptUsec) / n, 2),
      redisCpuUsecPerJob: round(Math.min(first.cpuUsecPerJob, second.cpuUsecPerJob), 2),
      workerCpuUsecPerJob: round(Math.min(first.workerCpuUsecPerJob, second.workerCpuUsecPerJob), 2),
      commandsPerJob: Object.fromEntries(
        Object.entries(stats.byCommand)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => [k, round(v / n, 4)]),
      ),
    };
  }

  /**
   * Single-job enqueues from `concurrentCallers` callers at once, each awaiting its call before making the
   * next (as many HTTP requests in flight, one job each); the better of two runs.
   */
  async concurrentEnqueue(): Promise<void> {
    const { concurrentJobs: n, concurrentCallers: callers } = this.config;
    const payloads = Array.from({ length: n }, (_, i) => emailJob(i));
    const runs: number[] = [];
    let best = { seconds: Infinity, redisCpuUsecPerJob: 0, clientCpuUsecPerJob: 0 };
    for (let r = 0; r < 2; r++) {
      await this.admin.flushall();
      let next = 0;
      const caller = async (): Promise<void> => {
        while (next < n) await this.producer.enqueueOne(payloads[next++]);
      };
      const redis0 = await redisCpuSeconds(this.admin);
      const client0 = process.cpuUsage();
      const t0 = monoMs();
      await Promise.all(Array.from({ length: callers }, caller));
      const seconds = (monoMs() - t0) / 1000;
      const client = process.cpuUsage(client0);
      // Where each job's time goes: Redis's CPU, and this process's (the callers, the library, its socket).
      const redisCpuUsecPerJob = round((((await redisCpuSeconds(this.admin)) - redis0) * 1e6) / n, 2);
      const clientCpuUsecPerJob = round((client.user + client.system) / n, 2);
      runs.push(Math.round(n / seconds));
      if (seconds < best.seconds) best = { seconds, redisCpuUsecPerJob, clientCpuUsecPerJob };
    }
    await this.admin.flushall();
    this.result.concurrentEnqueue = {
      jobs: n,
      callers,
      seconds: round(best.seconds, 3),
      jobsPerSec: Math.round(n / best.seconds),
      runs,
      redisCpuUsecPerJob: best.redisCpuUsecPerJob,
      clientCpuUsecPerJob: best.clientCpuUsecPerJob,
    };
  }

  /** Commands clients send per job (not counting those inside scripts), on a MONITOR-ed sample. */
  async roundTrips(): Promise<void> {
    const n = this.config.monitorJobs;
    await this.admin.flushall();
    await this.producer.enqueueBulk(this.jobs(n));
    const monitor = await CommandMonitor.start(this.admin, new Set([this.adminAddress]));
    let polls = 0;
    try {
      const report = await this.child.process({ concurrency: this.best }, n, this.processTimeout(n) * 3);
      polls = report.polls;
    } finally {
      const seen = await monitor.stop();
      let count = seen.count;
      for (const [command, perPoll] of Object.entries(pollCommands(this.lib))) {
        const left = (seen.byCommand[command] ?? 0) - perPoll * polls;
        count -= Math.min(seen.byCommand[command] ?? 0, perPoll * polls);
        if (left > 0) seen.byCommand[command] = left;
        else delete seen.byCommand[command];
      }
      this.result.roundTrips = {
        jobs: n,
        clientCommandsPerJob: round(count / n, 4),
        byCommand: Object.fromEntries(Object.entries(seen.byCommand).map(([k, v]) => [k, round(v / n, 4)])),
      };
    }
  }

  /** Commands per second of an idle worker: MONITOR (what clients send) and commandstats (incl. Lua). */
  private async idleWindow(seconds: number): Promise<{ seconds: number; clientCommandsPerSec: number; redisCallsPerSec: number; byCommand: Record<string, number> }> {
    const monitor = await CommandMonitor.start(this.admin, new Set([this.adminAddress]));
    await this.admin.config('RESETSTAT');
    const t0 = monoMs();
    await sleep(seconds * 1000);
    const stats = summarize(await commandStats(this.admin));
    const elapsed = (monoMs() - t0) / 1000;
    const seen = await monitor.stop();
    return {
      seconds: round(elapsed, 1),
      clientCommandsPerSec: round(seen.count / elapsed, 2),
      redisCallsPerSec: round(stats.calls / elapsed, 2),
      byCommand: seen.byCommand,
    };
  }

  async idle(): Promise<void> {
    await this.admin.flushall();
    await this.child.start('idle', { concurrency: this.best }, Number.MAX_SAFE_INTEGER);
    try {
      await sleep(1500);
      this.result.idle = await this.idleWindow(this.config.idleSeconds);
    } finally {
      await this.child.stop();
    }
  }

  /**
   * A fresh worker process, idle on each queue count in turn: the connections it opened for them and the
   * commands it sends, to show whether they grow with the number of queues.
   */
  async queues(): Promise<void> {
    const out: QueuesResult[] = [];
    const child = await WorkerChild.spawn(this.lib, this.url, { api: this.column.api });
    try {
      for (const count of this.config.queueCounts) {
        await this.admin.flushall();
        const names = Array.from({ length: count }, (_, i) => `q${String(i).padStart(4, '0')}`);
        await sleep(300);
        const before = await clientCount(this.admin);
        const t0 = monoMs();
        await child.start('idle', { concurrency: QUEUES_CONCURRENCY, queues: names }, Number.MAX_SAFE_INTEGER);
        const startMs = round(monoMs() - t0, 0);
        try {
          await sleep(1500);
          const connections = (await clientCount(this.admin)) - before;
          const idle = await this.idleWindow(Math.max(this.config.idleSeconds, QUEUES_IDLE_SECONDS));
          out.push({ queues: count, startMs, connections, idleSeconds: idle.seconds, clientCommandsPerSec: idle.clientCommandsPerSec, redisCallsPerSec: idle.redisCallsPerSec, byCommand: idle.byCommand });
          log(`${this.result.label}: ${count} queues: ${connections} connections, ${idle.clientCommandsPerSec} commands/s idle`);
        } finally {
          await child.stop();
        }
      }
    } finally {
      await child.exit().catch(() => child.kill());
    }
    this.result.queues = out;
  }

  /** Two open-loop runs at the target rate; the one with the lower p99 is kept (both are reported). */
  async latency(): Promise<void> {
    const first = await this.latencyOnce();
    const second = await this.latencyOnce();
    const better = second.p99 < first.p99 ? second : first;
    this.result.latency = { ...better, runsP99: [first.p99, second.p99] };
  }

  private async latencyOnce(): Promise<Omit<NonNullable<LibraryResult['latency']>, 'runsP99'>> {
    const { latencyRate: rate, latencySeconds, latencyWarmSeconds } = this.config;
    await this.admin.flushall();
    const warm = rate * latencyWarmSeconds;
    const total = warm + rate * latencySeconds;
    const id = await this.child.start('latency', { concurrency: this.best }, total);
    let sendErrors = 0;
    const lag = monitorEventLoopDelay({ resolution: 1 });
    try {
      await sleep(500);
      const pending: Promise<void>[] = [];
      lag.enable();
      const t0 = monoMs();
      let sent = 0;
      // Open loop: job i leaves at t0 + i ms whatever happened to the jobs before it.
      while (sent < total) {
        const due = Math.min(total, Math.floor(((monoMs() - t0) * rate) / 1000) + 1);
        while (sent < due) {
          const payload = emailJob(sent, { t: monoMs(), w: sent < warm ? 1 : 0 });
          pending.push(this.producer.enqueueOne(payload).catch(() => void sendErrors++));
          sent++;
        }
        await sleep(1);
      }
      lag.disable();
      await Promise.all(pending);
      const report = await this.child.done(id, 60_000);
      const samples = report.samples.sort((a, b) => a - b);
      return {
        ratePerSec: rate,
        seconds: latencySeconds,
        jobs: samples.length,
        p50: round(percentile(samples, 0.5), 3),
        p99: round(percentile(samples, 0.99), 3),
        max: round(samples[samples.length - 1], 3),
        mean: round(samples.reduce((a, b) => a + b, 0) / samples.length, 3),
        sendErrors,
        producerLoopDelayP99: round(lag.percentile(99) / 1e6, 2),
        workerLoopDelayP99: round(report.loopDelayP99 ?? NaN, 2),
      };
    } finally {
      await this.child.stop();
    }
  }

  async delayed(): Promise<void> {
    const { delayedJobs: n, delayMinMs, delayMaxMs } = this.config;
    await this.admin.flushall();
    const id = await this.child.start('delayed', { concurrency: this.best }, n);
    try {
      await sleep(500);
      // Due time = Date.now() read before the enqueue call + delay: every library computes its own due
      // time from a clock read no earlier than that, so a handler start before it is truly early.
      for (let start = 0; start < n; start += 100) {
        const before = Date.now();
        const jobs: BenchJob[] = [];
        for (let i = start; i < Math.min(n, start + 100); i++) {
          const delayMs = delayMinMs + Math.floor(Math.random() * (delayMaxMs - delayMinMs));
          jobs.push({ payload: emailJob(i, { d: before + delayMs }), delayMs, dueAt: before + delayMs });
        }
        await this.producer.enqueueBulk(jobs);
      }
      const report = await this.child.done(id, delayMaxMs + 30_000);
      const samples = report.samples.sort((a, b) => a - b);
      this.result.delayed = {
        jobs: samples.length,
        minDelayMs: delayMinMs,
        maxDelayMs: delayMaxMs,
        min: samples[0],
        p50: percentile(samples, 0.5),
        p99: percentile(samples, 0.99),
        max: samples[samples.length - 1],
        early: samples.filter((s) => s < 0).length,
      };
    } finally {
      await this.child.stop();
    }
  }

  /**
   * Schedules ticking every `scheduleEveryMs` (one each), made through the library's schedule API while
   * the worker runs; lateness = handler start (Date.now()) minus the tick's time, read from the job id
   * each library derives from the tick. The first tick of each schedule is not counted.
   */
  async schedules(): Promise<void> {
    const { scheduleTicks: ticks, scheduleEveryMs: everyMs } = this.config;
    const schedule = this.producer.schedule?.bind(this.producer);
    if (!schedule) throw new Error('this library has no schedules');
    await this.admin.flushall();
    const id = await this.child.start('schedule', { concurrency: this.best, features: { schedules: true } }, ticks);
    const t0 = monoMs();
    try {
      for (const every of everyMs) await schedule(QUEUE, `tick-${every}`, every);
      const perSecond = everyMs.reduce((sum, every) => sum + 1000 / every, 0);
      const report = await this.child.done(id, (ticks / perSecond) * 3000 + 30_000);
      const samples = report.samples.sort((a, b) => a - b);
      this.result.schedules = {
        schedules: everyMs.length,
        everyMs,
        jobs: samples.length,
        seconds: round((monoMs() - t0) / 1000, 1),
        min: samples[0],
        p50: percentile(samples, 0.5),
        p99: percentile(samples, 0.99),
        max: samples[samples.length - 1],
        early: samples.filter((s) => s < 0).length,
      };
    } finally {
      await this.child.stop();
      await this.admin.flushall();
    }
  }

  async features(): Promise<void> {
    this.result.features = await runFeatures(this, this.config);
  }

  /** Jobs per run of the scale phase: about a second of processing at least. */
  runJobs(): number {
    // A run of a fast library over `jobs` alone lasts a fraction of a second, where timer and scheduling
    // noise swamp the difference being measured.
    const rate = this.result.processing?.jobsPerSec ?? 0;
    return Math.min(5 * this.config.jobs, Math.max(this.config.jobs, Math.ceil(rate / 10_000) * 10_000));
  }

  /**
   * Many delayed jobs (due in 1-2 hours) wait in SCALE_QUEUE; then runs of immediate jobs alternate
   * between QUEUE (no delayed jobs) and SCALE_QUEUE, twice each, on the same Redis and worker process, so
   * that the machine's drifting load weighs on both sides alike. Each side keeps its better rate and its
   * lower Redis CPU per job.
   */
  async scale(): Promise<void> {
    const m = this.config.scaleDelayed;
    const n = this.runJobs();
    await this.admin.flushall();
    await sleep(200);
    const mem0 = await usedMemory(this.admin);
    const t0 = monoMs();
    const chunk = 50_000;
    for (let start = 0; start < m; start += chunk) {
      const jobs: BenchJob[] = [];
      const now = Date.now();
      for (let i = start; i < Math.min(m, start + chunk); i++) {
        const delayMs = 3_600_000 + Math.floor(Math.random() * 3_600_000);
        jobs.push({ payload: emailJob(i), delayMs, dueAt: now + delayMs });
      }
      await this.producer.enqueueBulk(jobs, SCALE_QUEUE);
    }
    const loadSeconds = (monoMs() - t0) / 1000;
    await sleep(200);
    const mem1 = await usedMemory(this.admin);
    const plain: MeasuredRun[] = [];
    const loaded: MeasuredRun[] = [];
    const enqueueSeconds: number[] = [];
    for (let r = 0; r < 2; r++) {
      await this.timedEnqueue(this.jobs(n));
      plain.push(await this.measuredRun(n));
      enqueueSeconds.push(await this.timedEnqueue(this.jobs(n), SCALE_QUEUE));
      loaded.push(await this.measuredRun(n, { queue: SCALE_QUEUE }));
    }
    const best = (runs: MeasuredRun[]) => ({
      jobsPerSec: Math.max(...runs.map((r) => r.jobsPerSec)),
      cpu: Math.min(...runs.map((r) => r.cpuUsecPerJob)),
      lua: Math.min(...runs.map((r) => r.stats.scriptUsec)) / n,
    });
    const without = best(plain);
    const withDelayed = best(loaded);
    this.result.scale = {
      delayedJobs: m,
      loadSeconds: round(loadSeconds, 1),
      bytesPerDelayedJob: round((mem1 - mem0) / m, 1),
      bulkEnqueuePerSec: Math.round(n / Math.min(...enqueueSeconds)),
      jobs: n,
      jobsPerSec: Math.round(withDelayed.jobsPerSec),
      runs: loaded.map((r) => Math.round(r.jobsPerSec)),
      baselineJobsPerSec: Math.round(without.jobsPerSec),
      baselineRuns: plain.map((r) => Math.round(r.jobsPerSec)),
      redisCallsPerJob: round(loaded[0].stats.calls / n, 3),
      scriptUsecPerJob: round(withDelayed.lua, 2),
      redisCpuUsecPerJob: round(withDelayed.cpu, 2),
      baselineRedisCpuUsecPerJob: round(without.cpu, 2),
      throughputRatio: round(withDelayed.jobsPerSec / without.jobsPerSec, 3),
      redisCpuRatio: round(withDelayed.cpu / without.cpu, 3),
      scriptUsecRatio: without.lua > 0 ? round(withDelayed.lua / without.lua, 3) : NaN,
    };
  }
}
