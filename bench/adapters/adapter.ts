import type { EmailJob } from '../payload.js';

/** The libraries compared; `ours` may run with payload validation on. */
export type LibraryId = 'ours' | 'bullmq' | 'beeQueue';

/** How `ours` validates payloads in its validated runs: a class-validator class, or a Standard Schema (valibot). */
export type Validator = 'class-validator' | 'valibot';
export const VALIDATORS: readonly Validator[] = ['class-validator', 'valibot'];

export const QUEUE = 'email';
/** The queue that holds the many delayed jobs of the scale run (the same Redis, another queue). */
export const SCALE_QUEUE = 'email-scale';

/** A job to store: ready now, or due `delayMs` from now (`dueAt`: the same instant, epoch ms). */
export interface BenchJob {
  payload: EmailJob;
  delayMs?: number;
  dueAt?: number;
}

/** The producer side, in the benchmark's main process. */
export interface ProducerAdapter {
  /** Stores jobs with the library's bulk API (its own call size, see `bulkCall`), in `queue` (default QUEUE). */
  enqueueBulk(jobs: ReadonlyArray<BenchJob>, queue?: string): Promise<void>;
  /** Stores one job in QUEUE with the library's single-job API. */
  enqueueOne(payload: EmailJob): Promise<void>;
  /** How the bulk API is called, for the report. */
  readonly bulkCall: string;
  close(): Promise<void>;
}

export type JobHandler = (payload: EmailJob) => Promise<void>;

/** The worker side, in a child process of its own. */
export interface WorkerAdapter {
  /** Starts a worker on `queue` (default QUEUE). */
  start(concurrency: number, handler: JobHandler, queue?: string): Promise<void>;
  stop(): Promise<void>;
  /**
   * Jobs of the started worker's queue waiting or claimed-but-unacknowledged, read from Redis. Each call sends the
   * commands in `pollCommands` (name -> calls per poll), which the harness subtracts from its counts.
   */
  inFlight(): Promise<number>;
  readonly pollCommands: Readonly<Record<string, number>>;
  close(): Promise<void>;
}

export interface AdapterOptions {
  url: string;
  /** ours only: validate payloads with this validator at enqueue and before the handler. */
  validate?: Validator;
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
