import type { EmailJob } from '../payload.js';

/** The libraries compared; `ours` may run with payload validation on, or through its Nest API. */
export type LibraryId = 'ours' | 'bullmq' | 'beeQueue';

/** How `ours` validates payloads in its validated runs: a class-validator class, or a Standard Schema (valibot). */
export type Validator = 'class-validator' | 'valibot';
export const VALIDATORS: readonly Validator[] = ['class-validator', 'valibot'];

/** Which API of ours a run drives: the engine classes, or the public Nest API (QueueProducer, @QueueHandler). */
export type Api = 'engine' | 'nest';

export const QUEUE = 'email';
/** The queue that holds the many delayed jobs of the scale run (the same Redis, another queue). */
export const SCALE_QUEUE = 'email-scale';

/** Per-job options of the opt-in feature runs (each library maps them to its own options). */
export interface JobFeatures {
  /** 1 (first) to 10 (last). */
  priority?: number;
  /** Fairness key (ours only: BullMQ's groups are a paid tier). */
  group?: string;
  /** Findable by id, kept after it finished (ours: enqueue option `track`). */
  track?: boolean;
  /** Enqueued inside an active OpenTelemetry span, so that it carries the trace context (ours: tracing). */
  traced?: boolean;
}

/** A job to store: ready now, or due `delayMs` from now (`dueAt`: the same instant, epoch ms). */
export interface BenchJob {
  payload: EmailJob;
  delayMs?: number;
  dueAt?: number;
  options?: JobFeatures;
}

/** Worker-side settings of the opt-in feature runs. */
export interface WorkerFeatures {
  /** Every job reports progress (50) and awaits it before the handler returns. */
  progress?: boolean;
  /** A queue-wide rate limit (ours: handler option `rateLimit`; BullMQ: Worker `limiter`). */
  rateLimit?: { max: number; duration: number };
  /** A queue-wide cap on running jobs (ours: `globalConcurrency`; BullMQ: `Queue.setGlobalConcurrency`). */
  globalConcurrency?: number;
  /** BullMQ only: keep finished jobs this many seconds (`removeOnComplete: { age }`), its way of tracking. */
  keepFinishedSeconds?: number;
  /** Tick the queue's schedules in this process (ours: the engine's Scheduler, as the Nest worker host runs it). */
  schedules?: boolean;
  /** ours: RedisQueueMetrics (prom-client) observing every attempt. */
  metrics?: boolean;
  /** ours: OpenTelemetry tracing, a span per attempt through a registered SDK. */
  tracing?: boolean;
}

/** What a worker child starts. */
export interface WorkerStart {
  concurrency: number;
  /** The queue to run (default QUEUE). */
  queue?: string;
  /** Many queues at once, each with `concurrency` (the connection-budget runs); overrides `queue`. */
  queues?: readonly string[];
  features?: WorkerFeatures;
}

/** The producer side, in the benchmark's main process. */
export interface ProducerAdapter {
  /** Stores jobs with the library's bulk API (its own call size, see `bulkCall`), in `queue` (default QUEUE). */
  enqueueBulk(jobs: ReadonlyArray<BenchJob>, queue?: string): Promise<void>;
  /** Stores one job in QUEUE with the library's single-job API. */
  enqueueOne(payload: EmailJob): Promise<void>;
  /** How the bulk API is called, for the report. */
  readonly bulkCall: string;
  /** Creates a schedule ticking every `everyMs` (aligned to multiples of it, as each library does). Absent: no schedules. */
  schedule?(queue: string, name: string, everyMs: number): Promise<void>;
  /**
   * Listens to the `completed` events of `queue` in this process (not the worker's), calling `onEvent` for each;
   * resolves once listening, with the function that stops it. Absent: no events to listen to.
   */
  listenCompleted?(queue: string, onEvent: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Called at each handler start with the job's payload and id. */
export type JobHandler = (payload: EmailJob, id: string) => Promise<void>;

/** The worker side, in a child process of its own. */
export interface WorkerAdapter {
  /**
   * Starts a worker (on QUEUE unless told). Resolves with the monotonic ms its timing starts from when that
   * is not the first handler start (the Nest worker app: just before `app.init()`).
   */
  start(spec: WorkerStart, handler: JobHandler): Promise<number | void>;
  stop(): Promise<void>;
  /**
   * Jobs of the started worker's queue waiting or claimed-but-unacknowledged, read from Redis. Each call sends the
   * commands in `pollCommands` (name -> calls per poll), which the harness subtracts from its counts.
   */
  inFlight(): Promise<number>;
  readonly pollCommands: Readonly<Record<string, number>>;
  /** The schedule and tick (epoch ms) a schedule's job was made for, read from its id; undefined for other jobs. */
  scheduledTick?(id: string): { schedule: string; tick: number } | undefined;
  close(): Promise<void>;
}

export interface AdapterOptions {
  url: string;
  /** ours only: validate payloads with this validator at enqueue and before the handler. */
  validate?: Validator;
  /** ours only: the API to drive. Default: engine. */
  api?: Api;
}

/** What one `inFlight()` poll of a peer sends: LLEN of its waiting list and of its active list. */
export const PEER_POLL_COMMANDS = { llen: 2 };

export function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

export function chunks<T>(items: ReadonlyArray<T>, size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
