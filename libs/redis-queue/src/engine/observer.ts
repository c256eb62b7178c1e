import type { JobContext } from './job-context.js';

/** How an attempt ended, for observers. `deferred`: put back without counting an attempt (throttled). */
export type JobOutcome = 'completed' | 'retried' | 'dead' | 'cancelled' | 'deferred' | 'abandoned';

/** The job an observer watches: its context, and the trace context it was enqueued in (if any). */
export interface ObservedJob extends JobContext {
  /** W3C traceparent stored at enqueue (tracing on in the producer). */
  readonly traceparent?: string;
}

/**
 * Watches the jobs a worker runs: metrics, tracing. Every method is optional and must not throw (what
 * it throws is logged and ignored); none of them is called for a worker without observers.
 */
export interface JobObserver {
  /** Runs the handler; may run it inside something (a tracing span). Must call `handler` once. */
  run?(job: ObservedJob, handler: () => unknown): unknown;
  /** A job starts; `waitMs`: since it was enqueued or, for a delayed job or retry, since it was due. */
  started?(job: ObservedJob, waitMs: number): void;
  /** Its attempt ended after `runMs`; `error` for failed attempts. */
  finished?(job: ObservedJob, outcome: JobOutcome, runMs: number, error?: unknown): void;
  /**
   * Whether it watches the attempt about to start (asked once per attempt, so it must be cheap); absent:
   * always. An attempt that no observer watches runs as in a worker without observers: tracing with no
   * OpenTelemetry SDK registered costs nothing per job.
   */
  watching?(): boolean;
}
