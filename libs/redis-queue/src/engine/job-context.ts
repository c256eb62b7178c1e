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
  /**
   * Aborted when this delivery must stop: the worker lost the job's lease (another delivery may run it)
   * or shutdown did not let the job finish in time (it went back to the queue). `signal.reason` says which.
   */
  abstract readonly signal: AbortSignal;
}
