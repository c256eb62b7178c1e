// `npm run bench [-- --quick]`: nestjs-redis-queue against BullMQ and bee-queue, in one run, on one
// throwaway redis-server (persistence off), each library in turn with the Redis flushed in between.
// Prints a table, PASS/FAIL per target, and as its last line one JSON object with every figure; writes
// bench/results/latest.json and bench/RESULTS.md. See bench/README.md for options and method.
import { readFileSync } from 'fs';
import { monitorEventLoopDelay } from 'perf_hooks';
import { cpus, loadavg, release, totalmem } from 'os';
import { Redis } from 'ioredis';
import { RedisServer } from '../libs/redis-queue/src/testing/redis-server.js';
import {
  BenchJob,
  createProducer,
  LibraryId,
  librarySettings,
  pollCommands,
  ProducerAdapter,
  SCALE_QUEUE,
  Validator,
  VALIDATORS,
} from './adapters/index.js';
import { WorkerChild } from './child.js';
import { emailJob, monoMs, WelcomeEmail } from './payload.js';
import { CommandMonitor, CommandSummary, commandStats, ownAddress, redisCpuSeconds, summarize, usedMemory, infoString } from './redis-stats.js';
import { evaluateTargets, printReport, ratiosVsBullmq, writeResults } from './report.js';
import { BenchReport, LibraryResult, percentile, round } from './results.js';

interface Config {
  quick: boolean;
  libs: LibraryId[];
  /** Validated runs of ours, one per validator. */
  validators: Validator[];
  /** Jobs for bulk enqueue, memory and processing. */
  jobs: number;
  /** Jobs per concurrency trial. */
  trialJobs: number;
  candidates: Record<LibraryId, number[]>;
  latencyRate: number;
  latencySeconds: number;
  latencyWarmSeconds: number;
  delayedJobs: number;
  delayMinMs: number;
  delayMaxMs: number;
  idleSeconds: number;
  monitorJobs: number;
  scaleDelayed: number;
  scalePeers: boolean;
  cpuProf: boolean;
  /** Run every library at this concurrency instead of trying candidates. */
  concurrency?: number;
  /** Phases to run (all by default): trials, bulk, processing, monitor, idle, latency, delayed, scale. */
  phases: Set<string>;
}

const PHASES = ['trials', 'bulk', 'processing', 'monitor', 'idle', 'latency', 'delayed', 'scale'];

function parseArgs(argv: string[]): Config {
  const has = (flag: string) => argv.includes(flag);
  const value = (flag: string) => argv.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
  const quick = has('--quick');
  const libs = (value('--only')?.split(',') ?? ['ours', 'bullmq', 'beeQueue']) as LibraryId[];
  for (const lib of libs) {
    if (!['ours', 'bullmq', 'beeQueue'].includes(lib)) throw new Error(`--only: unknown library "${lib}" (ours, bullmq, beeQueue)`);
  }
  const num = (flag: string, dflt: number) => (value(flag) === undefined ? dflt : Number(value(flag)));
  return {
    quick,
    libs,
    validators: has('--no-validation') || !libs.includes('ours') ? [] : validatorsArg(value('--validators')),
    jobs: num('--jobs', quick ? 20_000 : 100_000),
    trialJobs: num('--trial-jobs', quick ? 20_000 : 50_000),
    candidates: quick
      ? { ours: [500, 1000, 2000], bullmq: [100, 300, 1000], beeQueue: [100, 300, 1000] }
      : { ours: [250, 500, 1000, 2000], bullmq: [50, 100, 300, 1000], beeQueue: [50, 100, 300, 1000] },
    latencyRate: 1000,
    latencySeconds: num('--latency-seconds', quick ? 5 : 10),
    latencyWarmSeconds: 1,
    delayedJobs: num('--delayed-jobs', quick ? 500 : 2000),
    delayMinMs: 500,
    delayMaxMs: 3000,
    idleSeconds: num('--idle-seconds', quick ? 6 : 10),
    monitorJobs: quick ? 3000 : 5000,
    scaleDelayed: num('--scale-delayed', quick ? 200_000 : 1_000_000),
    scalePeers: !has('--no-scale-peers'),
    cpuProf: has('--cpu-prof'),
    concurrency: value('--concurrency') === undefined ? undefined : Number(value('--concurrency')),
    phases: new Set(value('--phases')?.split(',') ?? PHASES),
  };
}

function validatorsArg(arg: string | undefined): Validator[] {
  const chosen = (arg?.split(',') ?? [...VALIDATORS]) as Validator[];
  for (const name of chosen) {
    if (!VALIDATORS.includes(name)) throw new Error(`--validators: unknown validator "${name}" (${VALIDATORS.join(', ')})`);
  }
  return chosen;
}

/** Result keys of the validated runs of ours. */
const VALIDATED_KEYS: Record<Validator, string> = { 'class-validator': 'oursValidated', valibot: 'oursSchema' };

const LABELS: Record<LibraryId, string> = { ours: 'nestjs-redis-queue', bullmq: 'BullMQ', beeQueue: 'bee-queue' };
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

function packageVersion(path: string): string {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

const VERSIONS: Record<LibraryId, string> = {
  ours: packageVersion('libs/redis-queue/package.json'),
  bullmq: packageVersion('node_modules/bullmq/package.json'),
  beeQueue: packageVersion('node_modules/bee-queue/package.json'),
};

/** Everything one library's run needs: Redis admin access, its producer, its worker child. */
class LibraryRun {
  readonly result: LibraryResult;
  private producer!: ProducerAdapter;
  private child!: WorkerChild;
  private best = 0;
  private tornDown = false;

  constructor(
    private readonly lib: LibraryId,
    private readonly validator: Validator | undefined,
    private readonly config: Config,
    private readonly url: string,
    private readonly admin: Redis,
    private readonly adminAddress: string,
  ) {
    this.result = {
      library: lib,
      label: validator ? `${LABELS[lib]} + ${validator}` : LABELS[lib],
      version: VERSIONS[lib],
      validated: validator !== undefined,
      validator,
      settings: librarySettings(lib, validator),
      bulkCall: '',
      errors: [],
    };
  }

  private jobs(count: number, from = 0): BenchJob[] {
    const out: BenchJob[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const payload = emailJob(from + i);
      out[i] = { payload: this.validator === 'class-validator' ? WelcomeEmail.from(payload) : payload };
    }
    return out;
  }

  async setup(): Promise<void> {
    await this.admin.flushall();
    this.producer = await createProducer(this.lib, { url: this.url, validate: this.validator });
    this.result.bulkCall = this.producer.bulkCall;
    await this.spawnChild();
  }

  private async spawnChild(): Promise<void> {
    const execArgv =
      this.config.cpuProf && this.lib === 'ours' && !this.validator
        ? ['--cpu-prof', '--cpu-prof-dir=bench/results']
        : [];
    this.child = await WorkerChild.spawn(this.lib, this.url, { validate: this.validator, execArgv });
  }

  async teardown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    await this.child?.exit().catch(() => this.child.kill());
    await this.producer?.close().catch(() => undefined);
    await this.admin.flushall();
  }

  /** Runs one phase; a failure is recorded, the worker child replaced, and the run goes on. */
  async phase(key: string, name: string, body: () => Promise<void>): Promise<void> {
    if (!this.config.phases.has(key)) return;
    log(`${this.result.label}: ${name}`);
    try {
      await body();
    } catch (error) {
      const message = `${name}: ${(error as Error).message}`;
      log(`${this.result.label}: FAILED ${message}`);
      this.result.errors.push(message);
      this.child.kill();
      await this.spawnChild();
    }
  }

  private processTimeout(jobs: number): number {
    return 60_000 + jobs; // 1 ms per job beyond a minute: far beyond any library here
  }

  /** Processes `count` waiting jobs at `concurrency`; jobs/s from the first handler start to the last ack. */
  private async processRun(count: number, concurrency: number, queue?: string): Promise<{ seconds: number; jobsPerSec: number; polls: number }> {
    const report = await this.child.process(concurrency, count, this.processTimeout(count), queue);
    if (report.handled < count) throw new Error(`only ${report.handled} of ${count} jobs handled`);
    const seconds = (report.end - report.firstStart) / 1000;
    return { seconds, jobsPerSec: count / seconds, polls: report.polls };
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

  /** Uses the concurrency chosen for the same library without validation. */
  useConcurrency(concurrency: number): void {
    this.best = concurrency;
    this.result.concurrency = { chosen: concurrency, trials: [] };
  }

  get chosenConcurrency(): number {
    return this.best;
  }

  async bulkEnqueueAndMemory(): Promise<void> {
    const n = this.config.jobs;
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
  private async measuredRun(n: number, queue?: string): Promise<{ jobsPerSec: number; seconds: number; cpuUsecPerJob: number; stats: CommandSummary }> {
    await this.admin.config('RESETSTAT');
    const cpu0 = await redisCpuSeconds(this.admin);
    const run = await this.processRun(n, this.best, queue);
    const cpu1 = await redisCpuSeconds(this.admin);
    const stats = summarize(await commandStats(this.admin), pollCommands(this.lib), run.polls);
    return { jobsPerSec: run.jobsPerSec, seconds: run.seconds, cpuUsecPerJob: ((cpu1 - cpu0) * 1e6) / n, stats };
  }

  /** Enqueues `n` jobs with the bulk API; returns the seconds it took. */
  private async timedEnqueue(n: number, queue?: string): Promise<number> {
    const jobs = this.jobs(n);
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
    const n = this.config.jobs;
    if (!this.result.bulkEnqueue) {
      await this.admin.flushall();
      await this.producer.enqueueBulk(this.jobs(n));
    }
    const first = await this.measuredRun(n);
    await this.admin.flushall();
    const enqueueSeconds = await this.timedEnqueue(n);
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
      redisCallsPerJob: round(stats.calls / n, 3),
      scriptCallsPerJob: round(stats.scriptCalls / n, 4),
      scriptUsecPerJob: round(Math.min(first.stats.scriptUsec, second.stats.scriptUsec) / n, 2),
      redisCpuUsecPerJob: round(Math.min(first.cpuUsecPerJob, second.cpuUsecPerJob), 2),
      commandsPerJob: Object.fromEntries(
        Object.entries(stats.byCommand)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => [k, round(v / n, 4)]),
      ),
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
      const report = await this.child.process(this.best, n, this.processTimeout(n) * 3);
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

  async idle(): Promise<void> {
    await this.admin.flushall();
    await this.child.start('idle', this.best, Number.MAX_SAFE_INTEGER);
    try {
      await sleep(1500);
      const monitor = await CommandMonitor.start(this.admin, new Set([this.adminAddress]));
      await this.admin.config('RESETSTAT');
      const t0 = monoMs();
      await sleep(this.config.idleSeconds * 1000);
      const stats = summarize(await commandStats(this.admin));
      const seconds = (monoMs() - t0) / 1000;
      const seen = await monitor.stop();
      this.result.idle = {
        seconds: round(seconds, 1),
        clientCommandsPerSec: round(seen.count / seconds, 2),
        redisCallsPerSec: round(stats.calls / seconds, 2),
        byCommand: seen.byCommand,
      };
    } finally {
      await this.child.stop();
    }
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
    const id = await this.child.start('latency', this.best, total);
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
    const id = await this.child.start('delayed', this.best, n);
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
   * Many delayed jobs (due in 1-2 hours) wait in SCALE_QUEUE; then runs of immediate jobs alternate
   * between QUEUE (no delayed jobs) and SCALE_QUEUE, twice each, on the same Redis and worker process, so
   * that the machine's drifting load weighs on both sides alike. Each side keeps its better rate and its
   * lower Redis CPU per job.
   */
  async scale(): Promise<void> {
    const m = this.config.scaleDelayed;
    // Runs of about a second's work at least: a run of a fast library over `jobs` alone lasts a fraction
    // of a second, where timer and scheduling noise swamp the difference being measured.
    const rate = this.result.processing?.jobsPerSec ?? 0;
    const n = Math.min(5 * this.config.jobs, Math.max(this.config.jobs, Math.ceil(rate / 10_000) * 10_000));
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
    const plain: Awaited<ReturnType<LibraryRun['measuredRun']>>[] = [];
    const loaded: Awaited<ReturnType<LibraryRun['measuredRun']>>[] = [];
    const enqueueSeconds: number[] = [];
    for (let round = 0; round < 2; round++) {
      await this.timedEnqueue(n);
      plain.push(await this.measuredRun(n));
      enqueueSeconds.push(await this.timedEnqueue(n, SCALE_QUEUE));
      loaded.push(await this.measuredRun(n, SCALE_QUEUE));
    }
    const best = (runs: typeof plain) => ({
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

async function machineInfo(admin: Redis): Promise<Record<string, string | number>> {
  return {
    cpu: cpus()[0]?.model ?? '?',
    cores: cpus().length,
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    os: `${process.platform} ${release()}`,
    node: process.version,
    redis: await infoString(admin, 'server', 'redis_version'),
    loadAverageAtStart: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  };
}

async function main(): Promise<void> {
  const started = monoMs();
  const config = parseArgs(process.argv.slice(2));
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  log(`${config.quick ? 'quick' : 'full'} run: ${config.jobs} jobs, libraries ${config.libs.join(', ')}`);
  const server = await RedisServer.start({ args: ['--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'] });
  let admin: Redis | undefined;
  const runs: LibraryRun[] = [];
  const stopAll = async () => {
    for (const run of runs) await run.teardown().catch(() => undefined);
    admin?.disconnect();
    await server.stop();
  };
  const onSignal = () => {
    log('interrupted: stopping workers and redis-server');
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    admin = new Redis(server.url, { connectionName: 'bench-admin', maxRetriesPerRequest: 3 });
    const adminAddress = await ownAddress(admin);
    const machine = await machineInfo(admin);
    const libraries: Record<string, LibraryResult> = {};
    const best: Partial<Record<LibraryId, number>> = {};
    const plan: { lib: LibraryId; validator?: Validator }[] = config.libs.map((lib) => ({ lib }));
    plan.splice(1, 0, ...config.validators.map((validator) => ({ lib: 'ours' as const, validator })));
    for (const { lib, validator } of plan) {
      const validated = validator !== undefined;
      const key = validator ? VALIDATED_KEYS[validator] : lib;
      const run = new LibraryRun(lib, validator, config, server.url, admin, adminAddress);
      runs.push(run);
      try {
        await run.setup();
      } catch (error) {
        run.result.errors.push(`setup: ${(error as Error).message}`);
        libraries[key] = run.result;
        continue;
      }
      await run.phase('trials', 'warm-up', () => run.warmUp());
      if (config.concurrency) run.useConcurrency(config.concurrency);
      else if (validated && best.ours) run.useConcurrency(best.ours);
      else await run.phase('trials', 'concurrency trials', () => run.chooseConcurrency());
      if (!run.chosenConcurrency) run.useConcurrency(config.candidates[lib][Math.floor(config.candidates[lib].length / 2)]);
      best[lib] ??= run.chosenConcurrency;
      await run.phase('bulk', 'bulk enqueue + memory', () => run.bulkEnqueueAndMemory());
      await run.phase('processing', 'processing', () => run.processing());
      if (!validated) {
        await run.phase('monitor', 'client commands (MONITOR sample)', () => run.roundTrips());
        await run.phase('idle', 'idle', () => run.idle());
      }
      await run.phase('latency', 'latency', () => run.latency());
      if (!validated) {
        await run.phase('delayed', 'delayed lateness', () => run.delayed());
        if (lib === 'ours' || config.scalePeers) await run.phase('scale', `scale (${config.scaleDelayed} delayed)`, () => run.scale());
        else run.result.scale = { skipped: '--no-scale-peers' };
      }
      await run.teardown();
      libraries[key] = run.result;
    }
    const report: BenchReport = {
      bench: 'nestjs-redis-queue',
      mode: config.quick ? 'quick' : 'full',
      date: new Date().toISOString(),
      command,
      machine,
      config: { ...config, phases: [...config.phases] },
      libraries,
      ratiosVsBullmq: ratiosVsBullmq(libraries),
      targets: [],
      durationSeconds: 0,
    };
    report.targets = evaluateTargets(report);
    report.durationSeconds = round((monoMs() - started) / 1000, 1);
    // Only a complete run (every library, every phase, default counts) becomes bench/RESULTS.md.
    const overridden = process.argv.some((a) => /^--(jobs|trial-jobs|latency-seconds|delayed-jobs|idle-seconds|scale-delayed|concurrency)=/.test(a));
    const complete = config.libs.length === 3 && config.phases.size === PHASES.length && !overridden;
    writeResults(report, complete);
    printReport(report);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll();
  }
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    log(`bench failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
