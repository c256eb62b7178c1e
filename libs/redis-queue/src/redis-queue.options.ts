import {
  asOptionObject,
  assertConnection,
  assertPrefix,
  assertQueueName,
  BackoffOptions,
  DEFAULT_JOB_ID_RETENTION,
  DEFAULT_MAX_PAYLOAD_BYTES,
  describe,
  InvalidOptionError,
  JobDefaults,
  parseJobDefaults,
  QueueRef,
  queueName,
  RedisConnection,
  ReplicationOptions,
} from './engine/index.js';
import { bool, integer, ms } from './option.parsers.js';
import { parseQueueOverrides, QueueOverrides } from './queue-handler.options.js';

export { bool, integer, ms } from './option.parsers.js';

/**
 * class-validator's options (its `ValidatorOptions`), declared here so that apps without class-validator
 * installed compile against this package.
 */
export interface ClassValidatorOptions {
  enableDebugMessages?: boolean;
  skipUndefinedProperties?: boolean;
  skipNullProperties?: boolean;
  skipMissingProperties?: boolean;
  whitelist?: boolean;
  forbidNonWhitelisted?: boolean;
  groups?: string[];
  always?: boolean;
  strictGroups?: boolean;
  dismissDefaultMessages?: boolean;
  validationError?: { target?: boolean; value?: boolean };
  forbidUnknownValues?: boolean;
  stopAtFirstError?: boolean;
}

/** Options of `RedisQueueModule.forRoot` / `forRootAsync`. */
export interface RedisQueueModuleOptions {
  /**
   * Where Redis is: a `redis://` / `rediss://` URL (user and password in the URL for ACLs), ioredis
   * options (including TLS, or `sentinels` + `name` for Sentinel), or `{ cluster: [seed nodes], options }`.
   * Required.
   */
  connection: RedisConnection;
  /** Namespace of every key. Keys look like `rq:{email}:ready`. Default: `'rq'`. */
  prefix?: string;
  /**
   * Run worker loops for the `@QueueHandler` methods of this app: `true` for all of them, `false` for none
   * (producer only), or a list of queues (names or `defineQueue` tokens) whose handlers run here; the others
   * stay registered, so producing to their queues works. A listed queue without a handler in this app fails
   * the bootstrap. Default: `true`.
   */
  consumers?: boolean | ReadonlyArray<string | QueueRef>;
  /**
   * Per-queue handler options of this deployment, over what `@QueueHandler` says: every handler option but
   * `schema` and `payloadType` (e.g. `{ email: { concurrency: 50, attempts: 8 } }`), so that ConfigService can
   * tune a deployment without a code change. A queue without a handler in this app fails the bootstrap.
   * Default: none.
   */
  queues?: Readonly<Record<string, QueueOverrides>>;
  /** Attempts and backoff of jobs that set none and whose handler sets none. Default: 3 attempts, exponential from 1000 ms. */
  defaults?: JobDefaults;
  /** ms that running jobs get to finish at shutdown before they are aborted and released. Default: 10000. */
  shutdownTimeout?: number;
  /** ms a claimed job stays leased without renewal (renewed every third of it while the job runs). Default: 30000. */
  leaseDuration?: number;
  /** ms to wait for Redis before `enqueue` rejects (and before a worker command is retried). Default: 5000. */
  commandTimeout?: number;
  /** Largest payload accepted, in bytes of JSON. Default: 524288 (512 KiB). */
  maxPayloadBytes?: number;
  /**
   * Validate payloads: with the queue's or handler's Standard Schema validator, or with class-validator for
   * classes carrying its decorators; at enqueue and before handlers. `false` turns every check off (a handler's
   * `validate: true` turns its own back on). Default: `true`.
   */
  validation?: boolean;
  /** class-validator options used for payload validation. Default: `{ forbidUnknownValues: true }`. */
  validatorOptions?: ClassValidatorOptions;
  /** Include payloads in failure logs. Job data is kept out of logs by default. Default: `false`. */
  logPayloads?: boolean;
  /**
   * ms a caller-chosen `jobId` stays taken after its job completed, so that a producer retrying an
   * enqueue (say after a timeout) cannot run the job again. Set by the app that runs the handlers.
   * Default: 3600000 (1 hour); 0: the id is free as soon as the job completes.
   */
  jobIdRetention?: number;
  /** At startup, warn when Redis may drop jobs (eviction policy, persistence off). Default: `true`. */
  checkRedisConfig?: boolean;
  /**
   * Resolve `enqueue` only once this many replicas have the job (Redis `WAIT`), so that a failover to a
   * replica cannot lose it; rejects with `ReplicationTimeoutError` when they do not confirm within
   * `timeout` ms (default: `commandTimeout`). Default: off (replication is asynchronous).
   */
  waitForReplicas?: ReplicationOptions;
  /**
   * With `@opentelemetry/api` installed: each job carries the trace context active at `enqueue` (W3C
   * traceparent) and each attempt runs in its own span, linked to it. Without the package nothing is
   * loaded or changed. `false`: off. Default: `true`.
   */
  tracing?: boolean;
}

/** The options with every default filled in. */
export interface ResolvedRedisQueueOptions {
  connection: RedisConnection;
  prefix: string;
  /** true: every handler runs; false: none; a list: the handlers of these queues (names checked at bootstrap). */
  consumers: boolean | readonly string[];
  /** Checked overrides by queue name (names checked at bootstrap). */
  queues: Readonly<Record<string, QueueOverrides>>;
  defaults: { attempts: number; backoff: BackoffOptions };
  shutdownTimeout: number;
  leaseDuration: number;
  commandTimeout: number;
  maxPayloadBytes: number;
  validation: boolean;
  validatorOptions: ClassValidatorOptions;
  logPayloads: boolean;
  jobIdRetention: number;
  checkRedisConfig: boolean;
  waitForReplicas?: Required<ReplicationOptions>;
  tracing: boolean;
}

export const BUILT_IN_DEFAULTS = { attempts: 3, backoff: { type: 'exponential', delay: 1000 } as BackoffOptions };

const KNOWN = [
  'connection',
  'prefix',
  'consumers',
  'queues',
  'defaults',
  'shutdownTimeout',
  'leaseDuration',
  'commandTimeout',
  'maxPayloadBytes',
  'validation',
  'validatorOptions',
  'logPayloads',
  'jobIdRetention',
  'checkRedisConfig',
  'waitForReplicas',
  'tracing',
];

/** Merges defaults and checks every field; errors name the field (the one place defaults live). */
export function resolveOptions(options: unknown): ResolvedRedisQueueOptions {
  const o = asOptionObject(options, '', KNOWN) as Partial<RedisQueueModuleOptions>;
  assertConnection(o.connection);
  const prefix = o.prefix ?? 'rq';
  assertPrefix(prefix);
  const defaults = o.defaults === undefined ? {} : parseJobDefaults(o.defaults, 'defaults.');
  const validatorOptions = o.validatorOptions ?? {};
  if (typeof validatorOptions !== 'object' || validatorOptions === null) {
    throw new InvalidOptionError('validatorOptions', `must be class-validator options (got ${describe(validatorOptions)})`);
  }
  return {
    connection: o.connection,
    prefix,
    consumers: consumers(o.consumers),
    queues: queues(o.queues),
    defaults: {
      attempts: defaults.attempts ?? BUILT_IN_DEFAULTS.attempts,
      backoff: defaults.backoff ?? BUILT_IN_DEFAULTS.backoff,
    },
    shutdownTimeout: ms(o.shutdownTimeout, 'shutdownTimeout', 10_000, 0),
    leaseDuration: ms(o.leaseDuration, 'leaseDuration', 30_000, 100),
    commandTimeout: ms(o.commandTimeout, 'commandTimeout', 5_000, 1),
    maxPayloadBytes: integer(o.maxPayloadBytes, 'maxPayloadBytes', DEFAULT_MAX_PAYLOAD_BYTES, 1, 512 * 1024 * 1024),
    validation: bool(o.validation, 'validation', true),
    validatorOptions: { forbidUnknownValues: true, ...validatorOptions },
    logPayloads: bool(o.logPayloads, 'logPayloads', false),
    jobIdRetention: ms(o.jobIdRetention, 'jobIdRetention', DEFAULT_JOB_ID_RETENTION, 0, 30 * 24 * 3_600_000),
    checkRedisConfig: bool(o.checkRedisConfig, 'checkRedisConfig', true),
    waitForReplicas: o.waitForReplicas === undefined ? undefined : replication(o.waitForReplicas, o.commandTimeout),
    tracing: bool(o.tracing, 'tracing', true),
  };
}

function replication(value: unknown, commandTimeout: number | undefined): Required<ReplicationOptions> {
  const o = asOptionObject(value, 'waitForReplicas', ['replicas', 'timeout']) as Partial<ReplicationOptions>;
  return {
    replicas: integer(o.replicas ?? Number.NaN, 'waitForReplicas.replicas', 1, 1, 100),
    timeout: ms(o.timeout, 'waitForReplicas.timeout', commandTimeout ?? 5_000, 1),
  };
}

function consumers(value: unknown): boolean | readonly string[] {
  if (value === undefined) return true;
  if (typeof value === 'boolean') return value;
  if (!Array.isArray(value)) {
    throw new InvalidOptionError('consumers', `must be true or false, or a list of queue names (got ${describe(value)})`);
  }
  const names = value.map((queue: unknown, i) => {
    const name = queueName(queue as string | QueueRef);
    try {
      assertQueueName(name);
    } catch {
      throw new InvalidOptionError(`consumers[${i}]`, `must be a queue name or a defineQueue token (got ${describe(queue)})`);
    }
    return name;
  });
  return [...new Set(names)];
}

function queues(value: unknown): Record<string, QueueOverrides> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError('queues', `must be an object of queue name -> handler options (got ${describe(value)})`);
  }
  const parsed: Record<string, QueueOverrides> = {};
  for (const [name, overrides] of Object.entries(value)) {
    try {
      assertQueueName(name);
    } catch (error) {
      throw new InvalidOptionError(`queues.${name}`, (error as InvalidOptionError).problem);
    }
    parsed[name] = parseQueueOverrides(overrides, `queues.${name}`);
  }
  return parsed;
}
