// The benchmark's options (bench/README.md lists them) and the columns of a run.
import { Api, LibraryId, Validator, VALIDATORS } from './adapters/index.js';

/** Every phase, in the order each column runs them; `--phases` picks some. */
export const PHASES = ['trials', 'bulk', 'processing', 'concurrent', 'monitor', 'idle', 'latency', 'delayed', 'schedules', 'features', 'scale', 'queues'] as const;
export type Phase = (typeof PHASES)[number];

export interface Config {
  quick: boolean;
  libs: LibraryId[];
  /** Validated runs of ours (engine), one per validator. */
  validators: Validator[];
  /** The column of ours through the Nest API. */
  nest: boolean;
  /** Jobs for bulk enqueue, memory and processing. */
  jobs: number;
  /** The same for the Nest API column, whose processing row is timed from app.init() (issue 13: 100k jobs). */
  nestJobs: number;
  /** Jobs per concurrency trial. */
  trialJobs: number;
  candidates: Record<LibraryId, number[]>;
  /** Single-job enqueues per concurrent-enqueue run, and the callers making them at once. */
  concurrentJobs: number;
  concurrentCallers: number;
  latencyRate: number;
  latencySeconds: number;
  latencyWarmSeconds: number;
  delayedJobs: number;
  delayMinMs: number;
  delayMaxMs: number;
  /** Schedule ticks measured (the first of each schedule not counted), over schedules ticking every `scheduleEveryMs`. */
  scheduleTicks: number;
  scheduleEveryMs: number[];
  /** Rounds of the feature phase (each: the plain run, then each feature's). */
  featureRounds: number;
  /** Jobs per run of the feature phase: ours, and the peers (slower, so fewer). */
  featureJobs: { ours: number; peers: number };
  /** Groups in use in the groups feature run. */
  featureGroups: number;
  idleSeconds: number;
  monitorJobs: number;
  scaleDelayed: number;
  scalePeers: boolean;
  /** Queue counts of the connection-budget runs (one fresh worker process each). */
  queueCounts: number[];
  cpuProf: boolean;
  /** Run every library at this concurrency instead of trying candidates. */
  concurrency?: number;
  phases: Set<Phase>;
}

/** One column of the report: a library, or ours validated / through the Nest API. */
export interface Column {
  key: string;
  lib: LibraryId;
  label: string;
  validator?: Validator;
  api: Api;
}

const LABELS: Record<LibraryId, string> = { ours: 'nestjs-redis-queue', bullmq: 'BullMQ', beeQueue: 'bee-queue' };
/** Result keys of the validated runs of ours. */
const VALIDATED_KEYS: Record<Validator, string> = { 'class-validator': 'oursValidated', valibot: 'oursSchema' };
/** Every column key, in the order of the report. */
export const COLUMN_KEYS = ['ours', 'oursNest', 'oursValidated', 'oursSchema', 'bullmq', 'beeQueue'];

/** The columns of a run, in the order they run (ours first, then its Nest and validated columns, then the peers). */
export function columns(config: Config): Column[] {
  const out: Column[] = [];
  for (const lib of config.libs) {
    out.push({ key: lib, lib, label: LABELS[lib], api: 'engine' });
    if (lib !== 'ours') continue;
    if (config.nest) out.push({ key: 'oursNest', lib, label: `${LABELS.ours}, Nest API`, api: 'nest' });
    for (const validator of config.validators) {
      out.push({ key: VALIDATED_KEYS[validator], lib, label: `${LABELS.ours} + ${validator}`, validator, api: 'engine' });
    }
  }
  return out;
}

/** The phases a column runs (of those selected). */
export function columnPhases(column: Column): ReadonlySet<Phase> {
  if (column.validator) return new Set<Phase>(['trials', 'bulk', 'processing', 'latency']);
  if (column.api === 'nest') return new Set<Phase>(['trials', 'bulk', 'processing', 'concurrent', 'latency', 'queues']);
  if (column.lib === 'beeQueue') return new Set<Phase>(PHASES.filter((p) => p !== 'schedules' && p !== 'features' && p !== 'queues'));
  if (column.lib === 'ours') return new Set<Phase>(PHASES.filter((p) => p !== 'queues'));
  return new Set<Phase>(PHASES);
}

export function parseArgs(argv: string[]): Config {
  const has = (flag: string) => argv.includes(flag);
  const value = (flag: string) => argv.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
  const quick = has('--quick');
  const libs = (value('--only')?.split(',') ?? ['ours', 'bullmq', 'beeQueue']) as LibraryId[];
  for (const lib of libs) {
    if (!['ours', 'bullmq', 'beeQueue'].includes(lib)) throw new Error(`--only: unknown library "${lib}" (ours, bullmq, beeQueue)`);
  }
  const phases = (value('--phases')?.split(',') ?? [...PHASES]) as Phase[];
  for (const phase of phases) {
    if (!(PHASES as readonly string[]).includes(phase)) throw new Error(`--phases: unknown phase "${phase}" (${PHASES.join(', ')})`);
  }
  const num = (flag: string, dflt: number) => {
    const given = value(flag);
    if (given === undefined) return dflt;
    const n = Number(given);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: expected a positive number (got "${given}")`);
    return n;
  };
  return {
    quick,
    libs,
    validators: has('--no-validation') || !libs.includes('ours') ? [] : validatorsArg(value('--validators')),
    nest: !has('--no-nest') && libs.includes('ours'),
    jobs: num('--jobs', quick ? 20_000 : 100_000),
    nestJobs: num('--nest-jobs', 100_000),
    trialJobs: num('--trial-jobs', quick ? 10_000 : 50_000),
    candidates: quick
      ? { ours: [500, 1000, 2000], bullmq: [100, 300, 1000], beeQueue: [100, 300, 1000] }
      : { ours: [250, 500, 1000, 2000], bullmq: [50, 100, 300, 1000], beeQueue: [50, 100, 300, 1000] },
    concurrentJobs: num('--concurrent-jobs', quick ? 20_000 : 100_000),
    concurrentCallers: 100,
    latencyRate: 1000,
    latencySeconds: num('--latency-seconds', quick ? 4 : 10),
    latencyWarmSeconds: 1,
    delayedJobs: num('--delayed-jobs', quick ? 500 : 2000),
    delayMinMs: 500,
    delayMaxMs: 3000,
    scheduleTicks: num('--schedule-ticks', quick ? 200 : 600),
    // About 37 ticks/s in all, of intervals that rarely coincide.
    scheduleEveryMs: [100, 150, 200, 250, 300, 400, 500, 700, 1000, 1300],
    featureRounds: num('--feature-rounds', quick ? 1 : 2),
    featureJobs: { ours: num('--feature-jobs', quick ? 50_000 : 100_000), peers: num('--feature-peer-jobs', quick ? 10_000 : 50_000) },
    featureGroups: 10_000,
    idleSeconds: num('--idle-seconds', quick ? 5 : 10),
    monitorJobs: quick ? 3000 : 5000,
    scaleDelayed: num('--scale-delayed', quick ? 200_000 : 1_000_000),
    scalePeers: !has('--no-scale-peers'),
    queueCounts: [20, 200],
    cpuProf: has('--cpu-prof'),
    concurrency: value('--concurrency') === undefined ? undefined : num('--concurrency', 0),
    phases: new Set(phases),
  };
}

/** True when counts were changed from the mode's defaults (such a run does not become RESULTS.md). */
export function countsOverridden(argv: string[]): boolean {
  return argv.some((a) =>
    /^--(jobs|nest-jobs|trial-jobs|concurrent-jobs|latency-seconds|delayed-jobs|schedule-ticks|feature-rounds|feature-jobs|feature-peer-jobs|idle-seconds|scale-delayed|concurrency)=/.test(a),
  );
}

function validatorsArg(arg: string | undefined): Validator[] {
  const chosen = (arg?.split(',') ?? [...VALIDATORS]) as Validator[];
  for (const name of chosen) {
    if (!VALIDATORS.includes(name)) throw new Error(`--validators: unknown validator "${name}" (${VALIDATORS.join(', ')})`);
  }
  return chosen;
}
