import type { StandardSchemaV1 } from '@standard-schema/spec';
import {
  asOptionObject,
  assertStandardSchema,
  describe,
  InvalidOptionError,
  JobDefaults,
  parseAttempts,
  parseBackoff,
  parseRateLimit,
  parseSchedule,
  parseTimeout,
  parseTrack,
  PayloadClass,
  RateLimit,
  ScheduleSpec,
} from './engine/index.js';
import { messages } from './redis-queue.messages.js';
import { bool, integer } from './option.parsers.js';

/** Options of `@QueueHandler`; all but `schema` and `payloadType` can be overridden per deployment (module `queues`). */
export interface QueueHandlerOptions<T = unknown> extends JobDefaults {
  /** Jobs of this queue this process runs at once, at most (exactly honoured). Default: 1. */
  concurrency?: number;
  /**
   * Standard Schema validator (zod, valibot, arktype, ...) run on each payload before the method; the method
   * receives its output, and an invalid payload is dead-lettered with the issues. Default: the queue token's.
   */
  schema?: StandardSchemaV1<unknown, T>;
  /**
   * Class the payload is transformed into and validated against (class-validator). Default: the queue token's
   * `payloadType`, else the type of the method's first parameter when it is a class with class-validator decorators.
   */
  payloadType?: PayloadClass<T>;
  /** Validate payloads before the method runs. Default: the module's `validation` (true). */
  validate?: boolean;
  /**
   * ms an attempt may run: then its `signal` aborts with `JobTimeoutError` and the attempt counts as
   * failed (retried per its attempts). A handler that ignores the signal keeps its concurrency slot until
   * it returns; its attempt is settled as failed after a grace period (the smaller of `timeout` and 5 s),
   * and a retry may then run elsewhere while it still runs. Jobs may set their own. Default: none.
   */
  timeout?: number;
  /**
   * At most `max` jobs of the queue start in any window of `duration` ms, across every worker of every
   * process (counted when a job is handed out, retries and recovered jobs included); workers sleep until
   * the next start is allowed (no polling). A queue-wide rule: see `globalConcurrency`. Default: none.
   */
  rateLimit?: RateLimit;
  /**
   * At most this many jobs of the queue run at once across every process, exactly (a crashed worker's
   * slots come back when its lease expires). Like `rateLimit`, `groupConcurrency` and `groupRateLimit`, a
   * queue-wide rule stored in Redis when the worker starts, before it claims: the last worker of the queue
   * to start sets the four rules for every worker, and a handler that declares none removes it. Default: none.
   */
  globalConcurrency?: number;
  /**
   * At most this many jobs of one group (enqueue option `group`) run at once across every process; the
   * other groups go on meanwhile. A queue-wide rule: see `globalConcurrency`. Default: none.
   */
  groupConcurrency?: number;
  /**
   * At most `max` jobs of one group start per `duration` ms, across every process; the other groups go
   * on meanwhile. A queue-wide rule: see `globalConcurrency`. Default: none.
   */
  groupRateLimit?: RateLimit;
  /**
   * A recurring job: `{ cron, timeZone? }` or `{ every }` (ms), with `payload` and `options` for each tick's
   * job and `missed` (`once` or `skip`: ticks that passed while nothing ran). Exactly one job per tick however
   * many instances run. Stored at bootstrap; removed from Redis when the code no longer declares it. `name`
   * defaults to 'handler'. Default: none.
   */
  schedule?: ScheduleSpec & { name?: string };
  /**
   * Jobs this app enqueues to the queue are tracked (findable by id, cancellable, results kept) unless
   * their own `track` says otherwise. Mostly useful as a deployment override (module `queues`). Default: false.
   */
  track?: boolean | { retention?: number };
}

/** How one handler option is checked, and whether a deployment may override it. */
interface HandlerOptionSpec {
  /** Checks a given (not undefined) value; `field` names it in errors. Returns the value to use. */
  parse(value: unknown, field: string): unknown;
  /** Part of the code (what the handler expects), so not overridable by module `queues`. */
  codeOnly?: true;
}

/**
 * Every `@QueueHandler` option and its check. `@QueueHandler` options and module `queues` overrides are both
 * parsed from this table, so an option added here is overridable per deployment unless marked `codeOnly`.
 */
const HANDLER_OPTIONS = {
  concurrency: { parse: (value, field) => integer(value, field, 1, 1, 10_000) },
  attempts: { parse: parseAttempts },
  backoff: { parse: parseBackoff },
  validate: { parse: (value, field) => bool(value, field, true) },
  timeout: { parse: parseTimeout },
  rateLimit: { parse: parseRateLimit },
  globalConcurrency: { parse: (value, field) => integer(value, field, 1, 1, 1_000_000) },
  groupConcurrency: { parse: (value, field) => integer(value, field, 1, 1, 1_000_000) },
  groupRateLimit: { parse: parseRateLimit },
  schedule: {
    parse: (value, field) => {
      const { name, ...spec } = (typeof value === 'object' && value !== null ? value : {}) as { name?: unknown };
      if (typeof value !== 'object' || value === null) throw new InvalidOptionError(field, `must be { cron | every, ... } (got ${describe(value)})`);
      if (name !== undefined && (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:\- ]{0,99}$/.test(name))) {
        throw new InvalidOptionError(`${field}.name`, `must be 1-100 characters of letters, digits, spaces, ".", "_", ":" or "-" (got ${describe(name)})`);
      }
      parseSchedule(spec, 'decorator', field);
      return value;
    },
  },
  track: {
    parse: (value, field) => {
      parseTrack(value, field);
      return value;
    },
  },
  schema: {
    parse: (value, field) => {
      assertStandardSchema(value, field);
      return value;
    },
    codeOnly: true,
  },
  payloadType: {
    parse: (value, field) => {
      if (typeof value !== 'function') throw new InvalidOptionError(field, `must be a class (got ${describe(value)})`);
      return value;
    },
    codeOnly: true,
  },
} satisfies { [K in keyof Required<QueueHandlerOptions>]: HandlerOptionSpec };

type HandlerOptionTable = typeof HANDLER_OPTIONS;
type CodeOnlyOption = {
  [K in keyof HandlerOptionTable]: HandlerOptionTable[K] extends { codeOnly: true } ? K : never;
}[keyof HandlerOptionTable];

/** Handler options a deployment sets in module option `queues`, over what `@QueueHandler` says. */
export type QueueOverrides = Omit<QueueHandlerOptions, CodeOnlyOption>;

const ALL_KEYS = Object.keys(HANDLER_OPTIONS) as (keyof HandlerOptionTable)[];
const CODE_ONLY_KEYS = ALL_KEYS.filter((key) => 'codeOnly' in HANDLER_OPTIONS[key]);
const OVERRIDABLE_KEYS = ALL_KEYS.filter((key) => !CODE_ONLY_KEYS.includes(key));

/** Checks `@QueueHandler` options. Errors name the field (the explorer adds the handler's name). */
export function parseHandlerOptions(value: unknown): QueueHandlerOptions {
  return parse(value, '', ALL_KEYS);
}

/** Checks the overrides of one queue given in module option `queues`; `path` is e.g. `queues.email`. */
export function parseQueueOverrides(value: unknown, path: string): QueueOverrides {
  if (typeof value === 'object' && value !== null) {
    const codeOnly = CODE_ONLY_KEYS.find((key) => key in value);
    if (codeOnly) throw new InvalidOptionError(`${path}.${codeOnly}`, messages.codeOnlyHandlerOption());
  }
  return parse(value, path, OVERRIDABLE_KEYS);
}

function parse(value: unknown, path: string, keys: readonly (keyof HandlerOptionTable)[]): QueueHandlerOptions {
  const given = asOptionObject(value, path, keys);
  const parsed: Record<string, unknown> = {};
  for (const key of keys) {
    if (given[key] !== undefined) parsed[key] = HANDLER_OPTIONS[key].parse(given[key], path ? `${path}.${key}` : key);
  }
  return parsed as QueueHandlerOptions;
}
