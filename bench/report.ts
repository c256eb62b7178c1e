import { mkdirSync, writeFileSync } from 'fs';
import { COLUMN_KEYS } from './config.js';
import { featuresOf } from './features.js';
import { emailJob } from './payload.js';
import { BenchReport, FeatureRow, LibraryResult, QueuesResult, round, TargetResult } from './results.js';

const ratio = (a: number | undefined, b: number | undefined): number | null =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? null : round(a / b, 2);

/** Each column's figures divided by BullMQ's (higher is better for rates, lower for the rest). */
export function ratiosVsBullmq(libraries: Record<string, LibraryResult>): Record<string, Record<string, number | null>> {
  const b = libraries.bullmq;
  const out: Record<string, Record<string, number | null>> = {};
  if (!b) return out;
  for (const [key, r] of Object.entries(libraries)) {
    if (key === 'bullmq') continue;
    out[key] = {
      processingJobsPerSec: ratio(r.processing?.jobsPerSec, b.processing?.jobsPerSec),
      bulkEnqueueJobsPerSec: ratio(r.bulkEnqueue?.jobsPerSec, b.bulkEnqueue?.jobsPerSec),
      concurrentEnqueueJobsPerSec: ratio(r.concurrentEnqueue?.jobsPerSec, b.concurrentEnqueue?.jobsPerSec),
      latencyP50: ratio(r.latency?.p50, b.latency?.p50),
      latencyP99: ratio(r.latency?.p99, b.latency?.p99),
      delayedLatenessP99: ratio(r.delayed?.p99, b.delayed?.p99),
      scheduleLatenessP99: ratio(r.schedules?.p99, b.schedules?.p99),
      bytesPerWaitingJob: ratio(r.memory?.bytesPerWaitingJob, b.memory?.bytesPerWaitingJob),
      redisCallsPerJob: ratio(r.processing?.redisCallsPerJob, b.processing?.redisCallsPerJob),
      clientCommandsPerJob: ratio(r.roundTrips?.clientCommandsPerJob, b.roundTrips?.clientCommandsPerJob),
      redisCpuUsecPerJob: ratio(r.processing?.redisCpuUsecPerJob, b.processing?.redisCpuUsecPerJob),
    };
  }
  return out;
}

const MISSING = 'not measured';

export function evaluateTargets(report: BenchReport): TargetResult[] {
  const libs = report.libraries;
  const ours = libs.ours;
  const nest = libs.oursNest;
  const bull = libs.bullmq;
  const ratios = report.ratiosVsBullmq;
  const targets: TargetResult[] = [];
  const add = (name: string, target: string, measured: string, pass: boolean) =>
    targets.push({ name, target, measured, pass: measured === MISSING ? null : pass });
  const atLeast = (
    name: string,
    key: string,
    metric: string,
    times: number,
    figure: (r: LibraryResult | undefined) => number | undefined,
    detail?: (r: LibraryResult, bull: LibraryResult | undefined) => string,
  ) => {
    if (!libs[key]) return;
    const x = ratios[key]?.[metric];
    const more = detail ? detail(libs[key], bull) : '';
    add(name, `>= ${times}x BullMQ`, x == null ? MISSING : `${x}x (${figure(libs[key])} vs ${figure(bull)} jobs/s${more})`, (x ?? 0) >= times);
  };
  // What each processed job costs the worker process and Redis.
  const processingCost = (r: LibraryResult, b: LibraryResult | undefined): string => {
    const [p, bp] = [r.processing, b?.processing];
    if (p?.workerCpuUsecPerJob === undefined || bp?.workerCpuUsecPerJob === undefined) return '';
    return `; per job worker CPU ${p.workerCpuUsecPerJob} vs ${bp.workerCpuUsecPerJob} µs, Redis CPU ${p.redisCpuUsecPerJob} vs ${bp.redisCpuUsecPerJob} µs`;
  };
  // What each single enqueue costs on either side of the socket: a throughput 10x BullMQ's needs both at a tenth.
  const singleEnqueueCost = (r: LibraryResult, b: LibraryResult | undefined): string => {
    const [c, bc] = [r.concurrentEnqueue, b?.concurrentEnqueue];
    if (c?.redisCpuUsecPerJob === undefined || bc?.redisCpuUsecPerJob === undefined) return '';
    return `; per job Redis CPU ${c.redisCpuUsecPerJob} vs ${bc.redisCpuUsecPerJob} µs, producer CPU ${c.clientCpuUsecPerJob} vs ${bc.clientCpuUsecPerJob} µs`;
  };
  const notAbove = (name: string, r: LibraryResult | undefined) => {
    if (!r) return;
    add(
      name,
      "<= BullMQ's",
      r.latency && bull?.latency ? `${r.latency.p99} ms vs ${bull.latency.p99} ms` : MISSING,
      !!r.latency && !!bull?.latency && r.latency.p99 <= bull.latency.p99,
    );
  };

  atLeast('processing throughput, engine', 'ours', 'processingJobsPerSec', 15, (r) => r?.processing?.jobsPerSec, processingCost);
  atLeast('processing throughput, Nest worker app (timed from app.init())', 'oursNest', 'processingJobsPerSec', 15, (r) => r?.processing?.jobsPerSec, processingCost);
  atLeast('processing with Standard Schema (valibot) validation', 'oursSchema', 'processingJobsPerSec', 10, (r) => r?.processing?.jobsPerSec);
  atLeast('processing with class-validator validation', 'oursValidated', 'processingJobsPerSec', 4, (r) => r?.processing?.jobsPerSec);
  atLeast('bulk enqueue throughput, engine', 'ours', 'bulkEnqueueJobsPerSec', 10, (r) => r?.bulkEnqueue?.jobsPerSec);
  atLeast('bulk enqueue, QueueProducer.enqueueMany of 1000 per call in sequence', 'oursNest', 'bulkEnqueueJobsPerSec', 10, (r) => r?.bulkEnqueue?.jobsPerSec);
  atLeast('single enqueue from 100 concurrent callers, engine (vs BullMQ add)', 'ours', 'concurrentEnqueueJobsPerSec', 10, (r) => r?.concurrentEnqueue?.jobsPerSec, singleEnqueueCost);
  atLeast('single QueueProducer.enqueue from 100 concurrent callers (vs BullMQ add)', 'oursNest', 'concurrentEnqueueJobsPerSec', 10, (r) => r?.concurrentEnqueue?.jobsPerSec, singleEnqueueCost);
  notAbove('latency p99 at 1,000 jobs/s, engine', ours);
  notAbove('latency p99 at 1,000 jobs/s, through the Nest API', nest);
  if (ours) {
    add('delayed lateness p99', '<= 10 ms', ours.delayed ? `${ours.delayed.p99} ms` : MISSING, !!ours.delayed && ours.delayed.p99 <= 10);
    add(
      'delayed jobs never early',
      'min lateness >= 0',
      ours.delayed ? `min ${ours.delayed.min} ms, ${ours.delayed.early} early of ${ours.delayed.jobs}` : MISSING,
      !!ours.delayed && ours.delayed.early === 0 && ours.delayed.min >= 0,
    );
    const s = ours.schedules;
    add('schedule lateness p99', '<= 10 ms', s ? `${s.p99} ms (BullMQ job schedulers: ${bull?.schedules ? `${bull.schedules.p99} ms` : '-'})` : MISSING, !!s && s.p99 <= 10);
    add('schedule ticks never early', 'min lateness >= 0', s ? `min ${s.min} ms, ${s.early} early of ${s.jobs}` : MISSING, !!s && s.early === 0 && s.min >= 0);
    add('Redis memory per waiting job (untracked)', '<= 120 B', ours.memory ? `${ours.memory.bytesPerWaitingJob} B` : MISSING, !!ours.memory && ours.memory.bytesPerWaitingJob <= 120);
    add(
      'Redis commands while idle, engine worker',
      '<= 1/s per worker process',
      ours.idle ? `${ours.idle.clientCommandsPerSec}/s sent (${ours.idle.redisCallsPerSec}/s incl. Lua)` : MISSING,
      !!ours.idle && ours.idle.clientCommandsPerSec <= 1,
    );
  }
  if (nest) {
    const q = nest.queues ?? [];
    for (const count of report.config.queueCounts as number[]) {
      const entry = q.find((e) => e.queues === count);
      add(
        `Redis commands while idle, Nest worker app with ${count} queues`,
        '<= 1/s per worker process',
        entry ? `${entry.clientCommandsPerSec}/s sent (${entry.redisCallsPerSec}/s incl. Lua)` : MISSING,
        !!entry && entry.clientCommandsPerSec <= 1,
      );
    }
    const [few, many] = [q[0], q[q.length - 1]];
    const peer = bull?.queues;
    add(
      'Redis connections of a worker process, constant in its number of queues',
      `the same with ${(report.config.queueCounts as number[]).join(' and ')} queues`,
      q.length >= 2
        ? `${q.map((e) => `${e.connections} with ${e.queues}`).join(', ')} (BullMQ: ${peer?.map((e) => `${e.connections} with ${e.queues}`).join(', ') ?? '-'})`
        : MISSING,
      q.length >= 2 && few.connections === many.connections,
    );
  }
  if (ours) {
    const sc = ours.scale && 'jobsPerSec' in ours.scale ? ours.scale : undefined;
    add(
      `flat cost with ${report.config.scaleDelayed} delayed jobs`,
      'throughput >= 0.8x and Redis CPU/job <= 1.25x of the alternating runs without them',
      sc ? `throughput ${sc.throughputRatio}x, Redis CPU/job ${sc.redisCpuRatio}x, Lua µs/job ${sc.scriptUsecRatio}x` : MISSING,
      !!sc && sc.throughputRatio >= 0.8 && sc.redisCpuRatio <= 1.25,
    );
    const f = ours.features;
    const expected = featuresOf('ours').map((e) => e.key);
    const measured = f?.rows.filter((row) => Number.isFinite(row.jobsPerSec) && !row.error).map((row) => row.key) ?? [];
    const lacking = expected.filter((key) => !measured.includes(key));
    add(
      'each opt-in feature: its cost per job measured',
      'a figure for every feature beside the plain path',
      f ? (lacking.length === 0 ? `${measured.length - 1} features measured (table above)` : `missing: ${lacking.join(', ')}`) : MISSING,
      !!f && lacking.length === 0,
    );
  }
  return targets;
}

type Row = [string, ...string[]];

const n = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? undefined : v.toLocaleString('en-US'));
const queuesCell = (q: QueuesResult[] | undefined, cell: (e: QueuesResult) => string) => (q && q.length > 0 ? q.map(cell).join(' / ') : undefined);

function rows(report: BenchReport): Row[] {
  const libs = COLUMN_KEYS.map((c) => report.libraries[c]);
  const f = (get: (r: LibraryResult) => string | number | undefined | null): string[] =>
    libs.map((r) => {
      if (!r) return '';
      const v = get(r);
      return v === undefined || v === null || (typeof v === 'number' && !Number.isFinite(v)) ? '-' : String(v);
    });
  const counts = (report.config.queueCounts as number[] | undefined)?.join(' / ') ?? '';
  const out: Row[] = [
    ['library', ...f((r) => `${r.label} ${r.version}`)],
    ['concurrency (chosen)', ...f((r) => r.concurrency && `${r.concurrency.chosen}${r.concurrency.trials.length ? ` of ${r.concurrency.trials.map((t) => t.concurrency).join('/')}` : ' (as the engine column)'}`)],
    ['bulk enqueue, jobs/s', ...f((r) => n(r.bulkEnqueue?.jobsPerSec))],
    ['single enqueue, 100 concurrent callers, jobs/s', ...f((r) => n(r.concurrentEnqueue?.jobsPerSec))],
    ['single enqueue: Redis CPU / producer process CPU per job, µs', ...f((r) => (r.concurrentEnqueue?.redisCpuUsecPerJob === undefined ? undefined : `${r.concurrentEnqueue.redisCpuUsecPerJob} / ${r.concurrentEnqueue.clientCpuUsecPerJob}`))],
    ['processing, jobs/s', ...f((r) => n(r.processing?.jobsPerSec))],
    ['processing timed from', ...f((r) => r.processing?.timedFrom)],
    ['Nest worker app: app.init() to first job, ms', ...f((r) => r.processing?.startupMs)],
    ['latency p50 / p99 / max, ms', ...f((r) => r.latency && `${r.latency.p50} / ${r.latency.p99} / ${r.latency.max}`)],
    ['delayed lateness min / p50 / p99 / max, ms', ...f((r) => r.delayed && `${r.delayed.min} / ${r.delayed.p50} / ${r.delayed.p99} / ${r.delayed.max}`)],
    ['delayed jobs run early', ...f((r) => r.delayed?.early)],
    ['schedule lateness min / p50 / p99 / max, ms', ...f((r) => r.schedules && `${r.schedules.min} / ${r.schedules.p50} / ${r.schedules.p99} / ${r.schedules.max}`)],
    ['schedule ticks run early', ...f((r) => r.schedules && `${r.schedules.early} of ${r.schedules.jobs}`)],
    ['Redis memory per waiting job, B', ...f((r) => r.memory?.bytesPerWaitingJob)],
    ['Redis commands per job (incl. Lua)', ...f((r) => r.processing?.redisCallsPerJob)],
    ['client commands per job (MONITOR)', ...f((r) => r.roundTrips?.clientCommandsPerJob)],
    ['script calls per job', ...f((r) => r.processing?.scriptCallsPerJob)],
    ['Redis CPU per job, µs', ...f((r) => r.processing?.redisCpuUsecPerJob)],
    ['worker process CPU per job, µs', ...f((r) => r.processing?.workerCpuUsecPerJob)],
    ['Lua time per job, µs', ...f((r) => r.processing?.scriptUsecPerJob)],
    ['idle: commands/s sent (incl. Lua)', ...f((r) => r.idle && `${r.idle.clientCommandsPerSec} (${r.idle.redisCallsPerSec})`)],
    [`worker with ${counts} queues: Redis connections`, ...f((r) => queuesCell(r.queues, (e) => String(e.connections)))],
    [`worker with ${counts} queues: idle commands/s sent (incl. Lua)`, ...f((r) => queuesCell(r.queues, (e) => `${e.clientCommandsPerSec} (${e.redisCallsPerSec})`))],
    [`worker with ${counts} queues: start, ms`, ...f((r) => queuesCell(r.queues, (e) => String(e.startMs)))],
    [`scale: delayed jobs waiting`, ...f((r) => (r.scale ? ('skipped' in r.scale ? `skipped: ${r.scale.skipped}` : n(r.scale.delayedJobs)) : undefined))],
    ['scale: jobs per processing run', ...f((r) => (r.scale && 'jobsPerSec' in r.scale ? n(r.scale.jobs) : undefined))],
    ['scale: processing with / without them, jobs/s', ...f((r) => r.scale && 'jobsPerSec' in r.scale ? `${n(r.scale.jobsPerSec)} / ${n(r.scale.baselineJobsPerSec)} (${r.scale.throughputRatio}x)` : undefined)],
    ['scale: Redis CPU per job with / without, µs', ...f((r) => r.scale && 'jobsPerSec' in r.scale ? `${r.scale.redisCpuUsecPerJob} / ${r.scale.baselineRedisCpuUsecPerJob} (${r.scale.redisCpuRatio}x)` : undefined)],
    ['scale: bulk enqueue, jobs/s', ...f((r) => r.scale && 'jobsPerSec' in r.scale ? n(r.scale.bulkEnqueuePerSec) : undefined)],
    ['scale: memory per delayed job, B', ...f((r) => r.scale && 'jobsPerSec' in r.scale ? r.scale.bytesPerDelayedJob : undefined)],
  ];
  return out;
}

function header(report: BenchReport): Row {
  return ['measure', ...COLUMN_KEYS.map((c) => report.libraries[c]?.label ?? '')] as Row;
}

function present(report: BenchReport): number[] {
  return COLUMN_KEYS.map((c, i) => (report.libraries[c] ? i + 1 : -1)).filter((i) => i > 0);
}

/** The libraries with a feature phase, in column order. */
const FEATURE_COLUMNS = ['ours', 'bullmq'];

/** The opt-in features table: one row per feature (the plain path first), one group of columns per library. */
function featureRows(report: BenchReport): Row[] {
  const libs = FEATURE_COLUMNS.map((key) => report.libraries[key]).filter((r): r is LibraryResult => !!r?.features);
  if (libs.length === 0) return [];
  const keys: { key: string; label: string }[] = [];
  for (const r of libs) for (const row of r.features!.rows) if (!keys.some((k) => k.key === row.key)) keys.push({ key: row.key, label: row.label });
  const head: Row = ['feature'];
  for (const r of libs) head.push(`${r.label}: jobs/s (x plain)`, `${r.label}: Redis CPU µs/job (x plain)`, `${r.label}: B per waiting / finished job`, `${r.label}: bulk enqueue, jobs/s`);
  const out: Row[] = [head];
  for (const { key, label } of keys) {
    const line: Row = [label];
    for (const r of libs) {
      const row: FeatureRow | undefined = r.features!.rows.find((x) => x.key === key);
      if (!row) {
        line.push('no equivalent', '', '', '');
        continue;
      }
      if (!Number.isFinite(row.jobsPerSec)) {
        line.push(`FAILED: ${row.error ?? '?'}`, '', '', '');
        continue;
      }
      const x = (v: number | undefined) => (v === undefined ? '' : ` (${v}x)`);
      const heard = row.eventsHeard === undefined ? '' : `; ${n(row.eventsHeard)} of ${n(r.features!.jobs)} events heard`;
      line.push(
        `${n(row.jobsPerSec)}${x(row.throughputRatio)}${heard}`,
        `${row.redisCpuUsecPerJob}${x(row.redisCpuRatio)}`,
        `${row.bytesPerWaitingJob} / ${row.bytesPerFinishedJob}`,
        n(row.enqueuePerSec) ?? '-',
      );
    }
    out.push(line);
  }
  return out;
}

function featureNotes(report: BenchReport): string[] {
  const out: string[] = [];
  for (const key of FEATURE_COLUMNS) {
    const r = report.libraries[key];
    const f = r?.features;
    if (!f) continue;
    out.push(
      `${r.label}, opt-in features: ${f.jobs.toLocaleString('en-US')} jobs per run at concurrency ${f.concurrency}, ${f.rounds} round(s) (each: the plain run, then each feature); ${f.rows
        .map((row) => `${row.key}: ${row.how}${row.runs.length > 1 ? ` [runs ${row.runs.join(' / ')} jobs/s]` : ''}${row.error ? ` [ERROR ${row.error}]` : ''}`)
        .join('; ')}.`,
    );
  }
  return out;
}

function render(all: string[][], markdown: boolean): string {
  if (all.length === 0) return '';
  if (markdown) {
    const line = (r: string[]) => `| ${r.join(' | ')} |`;
    return [line(all[0]), line(all[0].map(() => '---')), ...all.slice(1).map(line)].join('\n');
  }
  const widths = all[0].map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ');
  return [line(all[0]), widths.map((w) => '-'.repeat(w)).join('-+-'), ...all.slice(1).map(line)].join('\n');
}

function mainTable(report: BenchReport, markdown: boolean): string {
  const keep = [0, ...present(report)];
  const all = [header(report), ...rows(report)].map((r) => keep.map((i) => r[i]));
  // Rows no column has a figure for (phases not run) are left out.
  return render([all[0], ...all.slice(1).filter((r) => r.slice(1).some((c) => c !== '-' && c !== ''))], markdown);
}

export function textTable(report: BenchReport): string {
  return mainTable(report, false);
}

export function markdownTable(report: BenchReport): string {
  return mainTable(report, true);
}

function targetLines(report: BenchReport): string[] {
  return report.targets.map((t) => `${t.pass === null ? 'SKIP' : t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.measured} (target ${t.target})`);
}

function notes(report: BenchReport): string[] {
  const c = report.config as {
    jobs: number;
    latencyRate: number;
    latencySeconds: number;
    delayedJobs: number;
    delayMinMs: number;
    delayMaxMs: number;
    idleSeconds: number;
    concurrentJobs: number;
    concurrentCallers: number;
    scheduleTicks: number;
    scheduleEveryMs: number[];
  };
  const out = [
    'The machine is shared (see the load average): one run\'s figures can move by half from the next run\'s. Compare libraries within a run (ratios), and CPU per job across runs.',
    `Jobs: ${c.jobs} per bulk enqueue / memory / processing run; ${c.concurrentJobs} single enqueues from ${c.concurrentCallers} concurrent callers; latency at ${c.latencyRate} jobs/s for ${c.latencySeconds} s (after 1 s of warm-up, not counted); ${c.delayedJobs} delayed jobs due ${c.delayMinMs}-${c.delayMaxMs} ms ahead; ${c.scheduleTicks} schedule ticks over ${c.scheduleEveryMs.length} schedules (every ${c.scheduleEveryMs.join(', ')} ms); idle over ${c.idleSeconds} s.`,
    `Payload: ${JSON.stringify(emailJob(0))} (${Buffer.byteLength(JSON.stringify(emailJob(0)))} B of JSON), the same for every library; the latency and delayed runs add a timestamp field.`,
    'Bulk enqueue, single enqueues, processing (with and without the delayed jobs) and latency: the better of two runs per column (both listed below), because the 2-core machine is shared; Redis CPU and Lua time per job: the lower of the two processing runs.',
    'Processing: one worker child process per column, no-op async handler; time from the first handler start (the Nest column: from app.init() of the worker app, which starts its workers) to the moment Redis first shows no job of the run claimed-but-unacknowledged after the last handler start (the child polls after the last start; those polls are not counted as the library\'s commands).',
    'Nest API column: the same library through the public API, as an app runs it: a producer app (RedisQueueModule with consumers: false, QueueProducer.enqueueMany of 1000 jobs per call in sequence, QueueProducer.enqueue) in the benchmark process and a worker app (RedisQueueModule, @QueueHandler) in the worker child, built with @nestjs/testing; a fresh worker app per run.',
    `Single enqueue: ${c.concurrentCallers} callers at once, each awaiting its call before making the next (as many HTTP requests in flight, one job each): JobProducer.enqueue / QueueProducer.enqueue, BullMQ Queue.add, bee-queue Job.save.`,
    'Latency: producer stamps CLOCK_MONOTONIC ms into the payload just before its single-job enqueue call; the worker child reads the same clock at handler start. Delayed lateness: Date.now() at handler start minus (Date.now() before the enqueue call + delay); negative = early.',
    'Schedule lateness: schedules made through each library\'s API while its worker runs (ours: JobProducer.schedule with every, ticked by the engine Scheduler in the worker process as the Nest worker host runs it, each tick enqueued ahead as a delayed job; BullMQ: Queue.upsertJobScheduler with every); Date.now() at handler start minus the tick time each library writes into the job id; the first tick of each schedule is not counted. bee-queue has no schedules.',
    `Worker with many queues: one fresh worker process, idle on each count of queues in turn (concurrency 10 each): ours the Nest worker app (one @QueueHandler method per queue), BullMQ one Worker per queue; connections = CLIENT LIST with it running less before it started; commands as in the idle row.`,
    'Opt-in features: alternating runs on the same Redis and worker process; jobs/s as in processing; B per waiting job = used_memory after the enqueue less before, per job; B per finished job = what is still held once every job finished (tracked jobs stay findable for their retention; event streams are bounded).',
    'Scale: the delayed jobs (due in 1-2 hours) wait in a second queue of the same Redis; processing runs then alternate between the plain queue and that one, twice each, with the same worker process, and each side keeps its better rate and lower Redis CPU per job. Each run has about a second of work at least: as many jobs as the library processed per second in the processing phase, between 1x and 5x the job count.',
    'Commands: "incl. Lua" counts every command Redis ran (INFO commandstats, including those called inside scripts); "client commands" counts what clients sent (MONITOR, on a separate sample run). Redis CPU = INFO cpu user+sys delta per job.',
  ];
  for (const key of COLUMN_KEYS) {
    const r = report.libraries[key];
    if (!r) continue;
    const trials = r.concurrency?.trials.length ? `; concurrency trials (jobs/s): ${r.concurrency.trials.map((t) => `${t.concurrency}: ${t.jobsPerSec}`).join(', ')}` : '';
    const lat = r.latency
      ? `; latency p99 runs ${r.latency.runsP99.join(' / ')} ms (kept run: event-loop delay p99 ${r.latency.producerLoopDelayP99} ms in the producer, ${r.latency.workerLoopDelayP99} ms in the worker)`
      : '';
    const scale = r.scale && 'runs' in r.scale ? `; scale processing runs ${r.scale.runs.join(' / ')} jobs/s with the delayed jobs, ${r.scale.baselineRuns.join(' / ')} without` : '';
    const single = r.concurrentEnqueue ? `; single enqueue runs ${r.concurrentEnqueue.runs.join(' / ')} jobs/s` : '';
    const runs = `; bulk enqueue runs ${r.bulkEnqueue?.runs.join(' / ') ?? '-'} jobs/s; processing runs ${r.processing?.runs.join(' / ') ?? '-'} jobs/s${single}${scale}${lat}`;
    out.push(`${r.label}: ${r.settings}; bulk: ${r.bulkCall}${trials}${runs}.`);
    for (const e of r.errors) out.push(`${r.label} ERROR: ${e}`);
  }
  return [...out, ...featureNotes(report)];
}

function loadLine(report: BenchReport): string {
  const m = report.machine;
  return `load average at start ${m.loadAverageAtStart}, at end ${m.loadAverageAtEnd ?? '?'}`;
}

export function printReport(report: BenchReport): void {
  const m = report.machine;
  const features = featureRows(report);
  const lines = [
    '',
    `nestjs-redis-queue benchmark (${report.mode}), ${report.date}, ${report.durationSeconds} s`,
    `machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, node ${m.node}, redis ${m.redis}; ${loadLine(report)}`,
    '',
    textTable(report),
    '',
    ...(features.length > 0 ? ['Opt-in features (each beside the plain path, same run):', '', render(features, false), ''] : []),
    ...notes(report).map((line) => `- ${line}`),
    '',
    ...targetLines(report),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * Writes a complete full run to bench/results/latest.json and bench/RESULTS.md (what the README quotes), a
 * complete quick run to bench/results/quick.json and quick.md, anything else to bench/results/partial.json.
 */
export function writeResults(report: BenchReport, complete: boolean): void {
  mkdirSync('bench/results', { recursive: true });
  if (!complete) {
    writeFileSync('bench/results/partial.json', `${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const quick = report.mode === 'quick';
  writeFileSync(quick ? 'bench/results/quick.json' : 'bench/results/latest.json', `${JSON.stringify(report, null, 2)}\n`);
  const m = report.machine;
  const features = featureRows(report);
  const md = [
    '# Benchmark results',
    '',
    `Generated by \`${report.command}\` on ${report.date} (${report.mode} run, ${report.durationSeconds} s). Raw figures: ${quick ? '[quick.json](quick.json)' : '[results/latest.json](results/latest.json)'}.`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}; Node ${m.node}; Redis ${m.redis} (one local redis-server, persistence off, shared by all libraries in turn, flushed in between); ${loadLine(report)}.`,
    '',
    markdownTable(report),
    '',
    ...(features.length > 0 ? ['## Opt-in features', '', 'Each beside the plain path of the same library, in alternating runs of the same run.', '', render(features, true), ''] : []),
    '## Targets (PRODUCT.md §5, issues 12-15)',
    '',
    ...targetLines(report).map((line) => `- ${line}`),
    '',
    '## How it is measured',
    '',
    ...notes(report).map((line) => `- ${line}`),
    '',
  ];
  writeFileSync(quick ? 'bench/results/quick.md' : 'bench/RESULTS.md', md.join('\n'));
}
