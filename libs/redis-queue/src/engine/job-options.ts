import { BackoffOptions, parseBackoff } from './backoff.js';
import { assertJobId, JobExtension, parseAttempts, StoredJobOptions } from './codec.js';
import { describe } from './describe.js';
import { InvalidOptionError } from './errors.js';
import { PRIORITY_LEVELS } from './keys.js';

/** Options of one enqueued job. */
export interface EnqueueOptions {
  /** Run no earlier than this many ms from now. Default: 0 (ready at once). */
  delay?: number;
  /** Run no earlier than this time (read on the producer's clock). Not together with `delay`. */
  runAt?: Date;
  /** Total attempts before the job is dead-lettered. Default: the handler's, else the module's (3). */
  attempts?: number;
  /** Wait between attempts. Default: the handler's, else the module's (exponential, 1000 ms). */
  backoff?: BackoffOptions;
  /**
   * Caller-chosen id (not all digits, at most 200 characters, no `{`, `}` or control characters).
   * While a job with this id is waiting, delayed, running or dead, enqueuing it again stores nothing and
   * returns the id. Default: a generated id.
   */
  jobId?: string;
  /** Correlation id carried to the handler's context and logs. Default: the job id. */
  traceId?: string;
  /**
   * 1 (runs first) to 10 (runs last); among ready jobs of a queue, a lower priority always runs first,
   * FIFO within a level. Default: none, which runs after 1-5 and before 6-10. Not with `group`.
   */
  priority?: number;
  /**
   * Fairness key (a tenant, a customer): the queue serves the groups that have ready jobs in turn, so one
   * group's backlog cannot hold back another's next job by more than one turn (1-100 characters, no
   * `{`, `}` or control characters). Default: none (ungrouped jobs take turns with the groups as one more).
   */
  group?: string;
  /**
   * ms an attempt may run; then its `signal` aborts with `JobTimeoutError` and the attempt counts as
   * failed. Default: the handler's `timeout`, else none.
   */
  timeout?: number;
  /**
   * Keep the job findable by id (`QueueInspector.job`, `cancel`, `waitForResult`): its state, progress,
   * result and last error, kept `retention` ms after it finished (default 24 hours). Costs Redis memory
   * and time per job (README, "Tracking"). Default: false, or the queue's `track` setting.
   */
  track?: boolean | { retention?: number };
  /**
   * Collapses a burst into one job: while a job enqueued with the same `key` is still waiting for its
   * turn, another enqueue replaces its payload (and options) and pushes its start back to `delay` ms
   * from now, but never later than `maxWait` ms after the first of the burst; the id of that one job is
   * returned. Not with `delay`, `runAt` or `jobId`. Default: none.
   */
  debounce?: { key: string; delay: number; maxWait?: number };
}

/** Defaults for jobs of a queue (module-wide or per handler). */
export interface JobDefaults {
  /** Total attempts before dead-lettering. Built-in default: 3. */
  attempts?: number;
  /** Wait between attempts. Built-in default: `{ type: 'exponential', delay: 1000 }`. */
  backoff?: BackoffOptions;
}

export interface ParsedEnqueueOptions {
  delayMs: number;
  stored: StoredJobOptions;
  jobId?: string;
  traceId?: string;
  /** Version-2 options (the record's extension); absent for a plain job. */
  ext?: JobExtension;
  /** Debounce: the key, the window and the longest wait (ms). */
  debounce?: { key: string; delay: number; maxWait: number };
}

/** Default `track.retention`: 24 hours. */
export const DEFAULT_TRACK_RETENTION = 24 * 3_600_000;
const MAX_RETENTION = 30 * 24 * 3_600_000;
const MAX_TIMEOUT = 24 * 3_600_000;

const ENQUEUE_KEYS = ['delay', 'runAt', 'attempts', 'backoff', 'jobId', 'traceId', 'priority', 'group', 'timeout', 'track', 'debounce'];
const MAX_DELAY_FOR_DEBOUNCE = 24 * 3_600_000;
const DEFAULT_KEYS = ['attempts', 'backoff'];
const MAX_DELAY_MS = 10 * 365 * 24 * 3_600_000;

/** A job enqueued without options (the common case): one shared, frozen result. */
const NO_OPTIONS: ParsedEnqueueOptions = Object.freeze({ delayMs: 0, stored: Object.freeze({}) });

/** Validates enqueue options; `now` is the producer's clock (for `runAt`). */
export function parseEnqueueOptions(options: unknown, now: number = Date.now()): ParsedEnqueueOptions {
  if (options === undefined) return NO_OPTIONS;
  const o = asOptionObject(options, '', ENQUEUE_KEYS);
  if (o.delay !== undefined && o.runAt !== undefined) {
    throw new InvalidOptionError('runAt', 'cannot be combined with "delay"; give one of them');
  }
  let delayMs = 0;
  if (o.delay !== undefined) {
    if (typeof o.delay !== 'number' || !Number.isFinite(o.delay) || o.delay < 0 || o.delay > MAX_DELAY_MS) {
      throw new InvalidOptionError('delay', `must be a number of ms from 0 to ${MAX_DELAY_MS} (got ${describe(o.delay)})`);
    }
    delayMs = Math.ceil(o.delay);
  } else if (o.runAt !== undefined) {
    if (!(o.runAt instanceof Date) || Number.isNaN(o.runAt.getTime())) {
      throw new InvalidOptionError('runAt', `must be a valid Date (got ${describe(o.runAt)})`);
    }
    delayMs = Math.max(0, Math.ceil(o.runAt.getTime() - now));
  }
  const parsed: ParsedEnqueueOptions = { delayMs, stored: parseJobDefaults(o, '') };
  if (o.jobId !== undefined) {
    assertJobId(o.jobId, 'jobId');
    parsed.jobId = o.jobId;
  }
  if (o.traceId !== undefined) {
    assertJobId(o.traceId, 'traceId');
    parsed.traceId = o.traceId;
  }
  const ext = parseExtension(o);
  if (ext) parsed.ext = ext;
  if (o.debounce !== undefined) {
    for (const other of ['delay', 'runAt', 'jobId']) {
      if (o[other] !== undefined) throw new InvalidOptionError('debounce', `cannot be combined with "${other}"`);
    }
    const d = asOptionObject(o.debounce, 'debounce', ['key', 'delay', 'maxWait']);
    assertJobId(d.key, 'debounce.key');
    const ms = (value: unknown, field: string, min: number): number => {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > MAX_DELAY_FOR_DEBOUNCE) {
        throw new InvalidOptionError(field, `must be a number of ms from ${min} to ${MAX_DELAY_FOR_DEBOUNCE} (got ${describe(value)})`);
      }
      return Math.ceil(value);
    };
    const delay = ms(d.delay, 'debounce.delay', 1);
    const maxWait = d.maxWait === undefined ? MAX_DELAY_FOR_DEBOUNCE : ms(d.maxWait, 'debounce.maxWait', delay);
    parsed.debounce = { key: d.key as string, delay, maxWait };
    parsed.delayMs = delay;
    parsed.ext = { ...parsed.ext, debounceKey: d.key as string };
  }
  return parsed;
}

/** The version-2 options of an enqueue, or undefined when there are none. */
function parseExtension(o: Record<string, unknown>): JobExtension | undefined {
  if (o.priority === undefined && o.group === undefined && o.timeout === undefined && o.track === undefined) return undefined;
  const ext: JobExtension = {};
  if (o.priority !== undefined) {
    if (typeof o.priority !== 'number' || !Number.isInteger(o.priority) || o.priority < 1 || o.priority > PRIORITY_LEVELS) {
      throw new InvalidOptionError('priority', `must be an integer from 1 (first) to ${PRIORITY_LEVELS} (last) (got ${describe(o.priority)})`);
    }
    ext.priority = o.priority;
  }
  if (o.group !== undefined) {
    if (o.priority !== undefined) {
      throw new InvalidOptionError('group', 'cannot be combined with "priority": groups take turns at the default priority');
    }
    assertJobId(o.group, 'group');
    if (o.group.length > 100) throw new InvalidOptionError('group', `must be at most 100 characters (got ${o.group.length})`);
    ext.group = o.group;
  }
  if (o.timeout !== undefined) ext.timeout = parseTimeout(o.timeout, 'timeout');
  const retention = parseTrack(o.track, 'track');
  if (retention !== undefined) ext.trackRetention = retention;
  return Object.keys(ext).length > 0 ? ext : undefined;
}

/** ms an attempt may run, 1 ms to 24 hours. */
export function parseTimeout(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1 || value > MAX_TIMEOUT) {
    throw new InvalidOptionError(field, `must be a number of ms from 1 to ${MAX_TIMEOUT} (got ${describe(value)})`);
  }
  return Math.ceil(value);
}

/** `track: true | false | { retention }` -> the retention in ms, or undefined when not tracked. */
export function parseTrack(value: unknown, field: string): number | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return DEFAULT_TRACK_RETENTION;
  const o = asOptionObject(value, field, ['retention']);
  if (o.retention === undefined) return DEFAULT_TRACK_RETENTION;
  if (typeof o.retention !== 'number' || !Number.isFinite(o.retention) || o.retention < 1 || o.retention > MAX_RETENTION) {
    throw new InvalidOptionError(`${field}.retention`, `must be a number of ms from 1 to ${MAX_RETENTION} (got ${describe(o.retention)})`);
  }
  return Math.ceil(o.retention);
}

/** Validates `{ attempts, backoff }`; `path` prefixes field names in errors (e.g. `defaults.`). */
export function parseJobDefaults(value: unknown, path: string): JobDefaults {
  const o = path === '' ? (value as Record<string, unknown>) : asOptionObject(value, path.slice(0, -1), DEFAULT_KEYS);
  const parsed: JobDefaults = {};
  if (o.attempts !== undefined) parsed.attempts = parseAttempts(o.attempts, `${path}attempts`);
  if (o.backoff !== undefined) parsed.backoff = parseBackoff(o.backoff, `${path}backoff`);
  return parsed;
}

/**
 * Checks that `value` is a plain options object whose keys are all known, suggesting the closest name.
 * `field` is the object's path for messages ('' for top-level options).
 */
export function asOptionObject(value: unknown, field: string, known: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(field || 'options', `must be an object (got ${describe(value)})`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const guess = closest(key, known);
      throw new InvalidOptionError(
        field ? `${field}.${key}` : key,
        `is not a known option${guess ? ` (did you mean "${guess}"?)` : ''}; known: ${known.join(', ')}`,
      );
    }
  }
  return value as Record<string, unknown>;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
