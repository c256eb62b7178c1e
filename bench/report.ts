import { mkdirSync, writeFileSync } from 'fs';
import { emailJob } from './payload.js';
import { BenchReport, LibraryResult, round, TargetResult } from './results.js';

const COLUMNS = ['ours', 'oursValidated', 'oursSchema', 'bullmq', 'beeQueue'];

const ratio = (a: number | undefined, b: number | undefined): number | null =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? null : round(a / b, 2);

/** Each library's figures divided by BullMQ's (higher is better for rates, lower for the rest). */
export function ratiosVsBullmq(libraries: Record<string, LibraryResult>): Record<string, Record<string, number | null>> {
  const b = libraries.bullmq;
  const out: Record<string, Record<string, number | null>> = {};
  if (!b) return out;
  for (const [key, r] of Object.entries(libraries)) {
    if (key === 'bullmq') continue;
    out[key] = {
      processingJobsPerSec: ratio(r.processing?.jobsPerSec, b.processing?.jobsPerSec),
      bulkEnqueueJobsPerSec: ratio(r.bulkEnqueue?.jobsPerSec, b.bulkEnqueue?.jobsPerSec),
      latencyP50: ratio(r.latency?.p50, b.latency?.p50),
      latencyP99: ratio(r.latency?.p99, b.latency?.p99),
      delayedLatenessP99: ratio(r.delayed?.p99, b.delayed?.p99),
      bytesPerWaitingJob: ratio(r.memory?.bytesPerWaitingJob, b.memory?.bytesPerWaitingJob),
      redisCallsPerJob: ratio(r.processing?.redisCallsPerJob, b.processing?.redisCallsPerJob),
      clientCommandsPerJob: ratio(r.roundTrips?.clientCommandsPerJob, b.roundTrips?.clientCommandsPerJob),
      redisCpuUsecPerJob: ratio(r.processing?.redisCpuUsecPerJob, b.processing?.redisCpuUsecPerJob),
    };
  }
  return out;
}

export function evaluateTargets(report: BenchReport): TargetResult[] {
  const ours = report.libraries.ours;
  const bull = report.libraries.bullmq;
  const r = report.ratiosVsBullmq.ours ?? {};
  const targets: TargetResult[] = [];
  const add = (name: string, target: string, measured: string, pass: boolean) =>
    targets.push({ name, target, measured, pass: measured === missing ? null : pass });
  const missing = 'not measured';
  if (!ours) return targets;
  add(
    'processing throughput',
    '>= 8x BullMQ',
    r.processingJobsPerSec == null ? missing : `${r.processingJobsPerSec}x (${ours.processing?.jobsPerSec} vs ${bull?.processing?.jobsPerSec} jobs/s)`,
    (r.processingJobsPerSec ?? 0) >= 8,
  );
  for (const [key, what, times] of [
    ['oursSchema', 'Standard Schema (valibot)', 10],
    ['oursValidated', 'class-validator', 4],
  ] as const) {
    const validated = report.libraries[key];
    const x = report.ratiosVsBullmq[key]?.processingJobsPerSec;
    if (!validated && x == null) continue;
    add(
      `processing with ${what} validation`,
      `>= ${times}x BullMQ`,
      x == null ? missing : `${x}x (${validated?.processing?.jobsPerSec} vs ${bull?.processing?.jobsPerSec} jobs/s)`,
      (x ?? 0) >= times,
    );
  }
  add(
    'bulk enqueue throughput',
    '>= 10x BullMQ',
    r.bulkEnqueueJobsPerSec == null ? missing : `${r.bulkEnqueueJobsPerSec}x (${ours.bulkEnqueue?.jobsPerSec} vs ${bull?.bulkEnqueue?.jobsPerSec} jobs/s)`,
    (r.bulkEnqueueJobsPerSec ?? 0) >= 10,
  );
  add(
    'latency p99 at 1,000 jobs/s',
    "<= BullMQ's",
    ours.latency && bull?.latency ? `${ours.latency.p99} ms vs ${bull.latency.p99} ms` : missing,
    !!ours.latency && !!bull?.latency && ours.latency.p99 <= bull.latency.p99,
  );
  add(
    'delayed lateness p99',
    '<= 10 ms',
    ours.delayed ? `${ours.delayed.p99} ms` : missing,
    !!ours.delayed && ours.delayed.p99 <= 10,
  );
  add(
    'delayed jobs never early',
    'min lateness >= 0',
    ours.delayed ? `min ${ours.delayed.min} ms, ${ours.delayed.early} early of ${ours.delayed.jobs}` : missing,
    !!ours.delayed && ours.delayed.early === 0 && ours.delayed.min >= 0,
  );
  add(
    'Redis memory per waiting job',
    '<= 120 B',
    ours.memory ? `${ours.memory.bytesPerWaitingJob} B` : missing,
    !!ours.memory && ours.memory.bytesPerWaitingJob <= 120,
  );
  add(
    'Redis commands while idle',
    '<= 1/s per worker process',
    ours.idle ? `${ours.idle.clientCommandsPerSec}/s sent (${ours.idle.redisCallsPerSec}/s incl. Lua)` : missing,
    !!ours.idle && ours.idle.clientCommandsPerSec <= 1,
  );
  const s = ours.scale && 'jobsPerSec' in ours.scale ? ours.scale : undefined;
  add(
    `flat cost with ${report.config.scaleDelayed} delayed jobs`,
    'throughput >= 0.8x and Redis CPU/job <= 1.25x of the alternating runs without them',
    s ? `throughput ${s.throughputRatio}x, Redis CPU/job ${s.redisCpuRatio}x, Lua µs/job ${s.scriptUsecRatio}x` : missing,
    !!s && s.throughputRatio >= 0.8 && s.redisCpuRatio <= 1.25,
  );
  return targets;
}

type Row = [string, ...string[]];

function rows(report: BenchReport): Row[] {
  const libs = COLUMNS.map((c) => report.libraries[c]);
  const f = (get: (r: LibraryResult) => string | number | undefined | null): string[] =>
    libs.map((r) => {
      if (!r) return '';
      const v = get(r);
      return v === undefined || v === null || (typeof v === 'number' && !Number.isFinite(v)) ? '-' : String(v);
    });
  const n = (v: number | undefined) => (v === undefined ? undefined : v.toLocaleString('en-US'));
  const out: Row[] = [
    ['library', ...f((r) => `${r.label} ${r.version}`)],
    ['concurrency (chosen)', ...f((r) => r.concurrency && `${r.concurrency.chosen}${r.concurrency.trials.length ? ` of ${r.concurrency.trials.map((t) => t.concurrency).join('/')}` : ' (as ours)'}`)],
    ['bulk enqueue, jobs/s', ...f((r) => n(r.bulkEnqueue?.jobsPerSec))],
    ['processing, jobs/s', ...f((r) => n(r.processing?.jobsPerSec))],
    ['latency p50 / p99 / max, ms', ...f((r) => r.latency && `${r.latency.p50} / ${r.latency.p99} / ${r.latency.max}`)],
    ['delayed lateness min / p50 / p99 / max, ms', ...f((r) => r.delayed && `${r.delayed.min} / ${r.delayed.p50} / ${r.delayed.p99} / ${r.delayed.max}`)],
    ['delayed jobs run early', ...f((r) => r.delayed?.early)],
    ['Redis memory per waiting job, B', ...f((r) => r.memory?.bytesPerWaitingJob)],
    ['Redis commands per job (incl. Lua)', ...f((r) => r.processing?.redisCallsPerJob)],
    ['client commands per job (MONITOR)', ...f((r) => r.roundTrips?.clientCommandsPerJob)],
    ['script calls per job', ...f((r) => r.processing?.scriptCallsPerJob)],
    ['Redis CPU per job, µs', ...f((r) => r.processing?.redisCpuUsecPerJob)],
    ['Lua time per job, µs', ...f((r) => r.processing?.scriptUsecPerJob)],
    ['idle: commands/s sent (incl. Lua)', ...f((r) => r.idle && `${r.idle.clientCommandsPerSec} (${r.idle.redisCallsPerSec})`)],
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
  return ['measure', ...COLUMNS.map((c) => report.libraries[c]?.label ?? '')] as Row;
}

function present(report: BenchReport): number[] {
  return COLUMNS.map((c, i) => (report.libraries[c] ? i + 1 : -1)).filter((i) => i > 0);
}

export function textTable(report: BenchReport): string {
  const keep = [0, ...present(report)];
  const all = [header(report), ...rows(report)].map((r) => keep.map((i) => r[i]));
  const widths = all[0].map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join(' | ');
  return [line(all[0]), widths.map((w) => '-'.repeat(w)).join('-+-'), ...all.slice(1).map(line)].join('\n');
}

export function markdownTable(report: BenchReport): string {
  const keep = [0, ...present(report)];
  const all = [header(report), ...rows(report)].map((r) => keep.map((i) => r[i]));
  const line = (r: string[]) => `| ${r.join(' | ')} |`;
  return [line(all[0]), line(all[0].map(() => '---')), ...all.slice(1).map(line)].join('\n');
}

function targetLines(report: BenchReport): string[] {
  return report.targets.map((t) => `${t.pass === null ? 'SKIP' : t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.measured} (target ${t.target})`);
}

function notes(report: BenchReport): string[] {
  const c = report.config as { jobs: number; latencyRate: number; latencySeconds: number; delayedJobs: number; delayMinMs: number; delayMaxMs: number; idleSeconds: number };
  const out = [
    'The machine is shared (see the load average): one run\'s figures can move by half from the next run\'s. Compare libraries within a run (ratios), and CPU per job across runs.',
    `Jobs: ${c.jobs} per bulk enqueue / memory / processing run; latency at ${c.latencyRate} jobs/s for ${c.latencySeconds} s (after 1 s of warm-up, not counted); ${c.delayedJobs} delayed jobs due ${c.delayMinMs}-${c.delayMaxMs} ms ahead; idle over ${c.idleSeconds} s.`,
    `Payload: ${JSON.stringify(emailJob(0))} (${Buffer.byteLength(JSON.stringify(emailJob(0)))} B of JSON), the same for every library; the latency and delayed runs add a timestamp field.`,
    'Bulk enqueue, processing (with and without the delayed jobs) and latency: the better of two runs per library (both listed below), because the 2-core machine is shared; Redis CPU and Lua time per job: the lower of the two processing runs.',
    'Processing: one worker child process per library, no-op async handler; time from the first handler start to the moment Redis first shows no job of the run claimed-but-unacknowledged after the last handler start (the child polls with one command after the last start; those polls are not counted as the library\'s commands).',
    'Latency: producer stamps CLOCK_MONOTONIC ms into the payload just before its single-job enqueue call; the worker child reads the same clock at handler start. Delayed lateness: Date.now() at handler start minus (Date.now() before the enqueue call + delay); negative = early.',
    'Scale: the delayed jobs (due in 1-2 hours) wait in a second queue of the same Redis; processing runs then alternate between the plain queue and that one, twice each, with the same worker process, and each side keeps its better rate and lower Redis CPU per job. Each run has about a second of work at least: as many jobs as the library processed per second in the processing phase, between 1x and 5x the job count.',
    'Commands: "incl. Lua" counts every command Redis ran (INFO commandstats, including those called inside scripts); "client commands" counts what clients sent (MONITOR, on a separate sample run). Redis CPU = INFO cpu user+sys delta per job.',
  ];
  for (const key of COLUMNS) {
    const r = report.libraries[key];
    if (!r) continue;
    const trials = r.concurrency?.trials.length ? `; concurrency trials (jobs/s): ${r.concurrency.trials.map((t) => `${t.concurrency}: ${t.jobsPerSec}`).join(', ')}` : '';
    const lat = r.latency
      ? `; latency p99 runs ${r.latency.runsP99.join(' / ')} ms (kept run: event-loop delay p99 ${r.latency.producerLoopDelayP99} ms in the producer, ${r.latency.workerLoopDelayP99} ms in the worker)`
      : '';
    const scale = r.scale && 'runs' in r.scale ? `; scale processing runs ${r.scale.runs.join(' / ')} jobs/s with the delayed jobs, ${r.scale.baselineRuns.join(' / ')} without` : '';
    const runs = `; bulk enqueue runs ${r.bulkEnqueue?.runs.join(' / ') ?? '-'} jobs/s; processing runs ${r.processing?.runs.join(' / ') ?? '-'} jobs/s${scale}${lat}`;
    out.push(`${r.label}: ${r.settings}; bulk: ${r.bulkCall}${trials}${runs}.`);
    for (const e of r.errors) out.push(`${r.label} ERROR: ${e}`);
  }
  return out;
}

export function printReport(report: BenchReport): void {
  const m = report.machine;
  const lines = [
    '',
    `nestjs-redis-queue benchmark (${report.mode}), ${report.date}`,
    `machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, node ${m.node}, redis ${m.redis}, load ${m.loadAverageAtStart}`,
    '',
    textTable(report),
    '',
    ...notes(report).map((n) => `- ${n}`),
    '',
    ...targetLines(report),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Writes bench/results/latest.json and bench/RESULTS.md; a partial run only bench/results/partial.json. */
export function writeResults(report: BenchReport, complete: boolean): void {
  mkdirSync('bench/results', { recursive: true });
  if (!complete) {
    writeFileSync('bench/results/partial.json', `${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  writeFileSync('bench/results/latest.json', `${JSON.stringify(report, null, 2)}\n`);
  const m = report.machine;
  const md = [
    '# Benchmark results',
    '',
    `Generated by \`${report.command}\` on ${report.date} (${report.mode} run, ${report.durationSeconds} s). Raw figures: [results/latest.json](results/latest.json).`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}; Node ${m.node}; Redis ${m.redis} (one local redis-server, persistence off, shared by all libraries in turn, flushed in between); load average at start ${m.loadAverageAtStart}.`,
    '',
    markdownTable(report),
    '',
    '## Targets (PRODUCT.md §5)',
    '',
    ...targetLines(report).map((l) => `- ${l}`),
    '',
    '## How it is measured',
    '',
    ...notes(report).map((n) => `- ${n}`),
    '',
  ];
  writeFileSync('bench/RESULTS.md', md.join('\n'));
}
