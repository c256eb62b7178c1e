/**
 * What a handler knows about the job it runs. A class rather than an interface so that it can be imported
 * as a value and used in decorated method signatures under any compiler settings.
 */
export abstract class JobContext {
  /** The job id (generated, or the caller's `jobId`). */
  abstract readonly id: string;
  /** The queue the job came from. */
  abstract readonly queue: string;
  /** This attempt, 1-based. */
  abstract readonly attempt: number;
  /** Attempts allowed in total; after the last one the job is dead-lettered. */
  abstract readonly maxAttempts: number;
  /** When the job was first stored (Redis clock). */
  abstract readonly enqueuedAt: Date;
  /** Correlation id given at enqueue (default: the job id); the worker's log lines carry it. */
  abstract readonly traceId: string;
  /** The job's priority (1-10), when it was given one. */
  abstract readonly priority: number | undefined;
  /** The job's group (fairness key), when it was given one. */
  abstract readonly group: string | undefined;
  /**
   * Aborted when this delivery must stop; `signal.reason` says why: `JobCancelledError` (the job was
   * cancelled), `JobTimeoutError` (the attempt ran past its timeout), `LeaseLostError` (the worker lost the
   * job's lease: another delivery may run it) or `ShutdownAbortError` (shutdown did not let it finish; it
   * went back to the queue).
   */
  abstract readonly signal: AbortSignal;
  /**
   * Reports progress (any JSON value, e.g. a percentage), visible to `QueueInspector.job()` for tracked
   * jobs and to `progress` event listeners. Cheap in a tight loop: only the latest value is sent, batched
   * with the worker's next round trip. Resolves once it was sent.
   */
  abstract progress(value: unknown): Promise<void>;
}
