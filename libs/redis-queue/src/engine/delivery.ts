import { DecodedJob } from './codec.js';
import { JobContext } from './job-context.js';

/** A claim as a worker holds it: its token (the lease, and the fence) and how many jobs it took. */
export class Claim {
  /** Some of its jobs were settled on their own: it can no longer be acknowledged whole. */
  splitUp = false;
  /** Its jobs that are still this worker's (not settled, released or abandoned). */
  open: number;
  /** performance.now() of its last lease renewal (the lease runs from then). */
  renewedAt?: number;

  constructor(
    readonly token: string,
    readonly size: number,
    /** performance.now() when the claim reply arrived: the lease runs from about then. */
    readonly receivedAt: number,
  ) {
    this.open = size;
  }

  /** When its lease, as far as this worker knows, runs out (performance.now() clock). */
  leaseEndsAt(leaseMs: number): number {
    return Math.max(this.receivedAt, this.renewedAt ?? 0) + leaseMs;
  }
}

/** Why a delivery stopped before its handler finished, if it did. */
export type StopReason = 'lease-lost' | 'released' | 'cancelled' | 'timed-out';

/**
 * One delivery of a job: the JobContext handed to the handler. The worker's bookkeeping (claim, position,
 * abort controller, timers) lives in the worker's own fields of this class, never on the JobContext API.
 */
export class Delivery extends JobContext {
  private controller?: AbortController;
  /** Set once the delivery must not settle as it would (lease lost, released, cancelled, timed out). */
  stopped?: StopReason;
  /** A timeout's timer (or its grace's), while armed. */
  timeoutTimer?: NodeJS.Timeout;
  /** Its attempt was settled as failed while its handler still ran (it ignored its timeout). */
  settledEarly = false;
  /** performance.now() when its handler started (set only when observers watch). */
  startedAt?: number;
  /** Resolves the handler's progress() promises once the value was sent. */
  progressSent: Array<() => void> = [];

  constructor(
    readonly claim: Claim,
    readonly position: number,
    readonly job: DecodedJob,
    readonly queue: string,
    readonly attempt: number,
    readonly maxAttempts: number,
    private readonly onProgress: (delivery: Delivery, value: unknown) => Promise<void>,
  ) {
    super();
  }

  get id(): string {
    return this.job.id;
  }

  get traceId(): string {
    return this.job.traceId;
  }

  get enqueuedAt(): Date {
    return new Date(this.job.enqueuedAt);
  }

  get priority(): number | undefined {
    return this.job.ext.priority;
  }

  get group(): string | undefined {
    return this.job.ext.group;
  }

  /** The W3C traceparent the job was enqueued with (tracing), if any. */
  get traceparent(): string | undefined {
    return this.job.ext.traceparent;
  }

  /** Tracked: the job's entry is kept this many ms after it finished. */
  get trackRetention(): number | undefined {
    return this.job.ext.trackRetention;
  }

  /** `token:position`, how scripts and logs name this delivery. */
  get member(): string {
    return `${this.claim.token}:${this.position}`;
  }

  // Created on first use: most handlers never look at it, and an AbortController per job is not free.
  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  progress(value: unknown): Promise<void> {
    return this.onProgress(this, value);
  }

  /** Stops the delivery: aborts its signal with `reason`, once. */
  stop(why: StopReason, reason: Error): void {
    if (this.stopped) return;
    this.stopped = why;
    this.controller ??= new AbortController();
    this.controller.abort(reason);
  }

  toJSON(): object {
    return { id: this.id, queue: this.queue, attempt: this.attempt, maxAttempts: this.maxAttempts, traceId: this.traceId };
  }
}
