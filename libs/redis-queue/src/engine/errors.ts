/** Base class of every error this library throws. */
export class RedisQueueError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An integration was asked for, but the optional package it needs is not installed; `packageName` names it. */
export class MissingPackageError extends RedisQueueError {
  constructor(
    readonly packageName: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** An option (module, handler or enqueue) has a wrong name or value; `field` names it. */
export class InvalidOptionError extends RedisQueueError {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`Invalid option "${field}": ${problem}`);
  }
}

/** A payload cannot be enqueued: not JSON-serializable, too large, or fails validation. Nothing was stored. */
export class InvalidPayloadError extends RedisQueueError {
  constructor(
    message: string,
    /** One entry per failing property path, e.g. `{ path: 'email', problem: 'email must be an email' }`. */
    readonly problems: ReadonlyArray<{ path: string; problem: string }> = [],
  ) {
    super(message);
  }
}

/** Redis did not answer within the configured time; the operation's outcome may be unknown. */
export class RedisUnavailableError extends RedisQueueError {}

/**
 * Marks errors that must not be retried. A registered symbol rather than `instanceof`, so that it holds
 * across copies of the library, and rather than a plain `permanent` field, which other libraries set with
 * other meanings (nodemailer marks every 5xx reply `permanent`).
 */
const PERMANENT = Symbol.for('nestjs-redis-queue.permanent');

/**
 * Throw it from a handler to fail the job permanently: no further attempts, straight to the dead-letter
 * set with this error.
 */
export class PermanentJobError extends RedisQueueError {
  readonly [PERMANENT] = true;
}

/** The payload read from Redis failed the handler's validation; the job is dead-lettered, never retried. */
export class PayloadValidationError extends PermanentJobError {
  constructor(
    message: string,
    readonly problems: ReadonlyArray<{ path: string; problem: string }> = [],
  ) {
    super(message);
  }
}

/** A job record in Redis could not be decoded; the job is dead-lettered with this reason. */
export class MalformedJobError extends PermanentJobError {}

/** Reason given to a job's `signal` when the worker lost its lease (another delivery may run the job). */
export class LeaseLostError extends RedisQueueError {}

/** Reason given to a job's `signal` when shutdown did not let the job finish in time (it is released). */
export class ShutdownAbortError extends RedisQueueError {}

/** True for PermanentJobError (and its subclasses), from any copy of this library. */
export function isPermanent(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { [PERMANENT]?: unknown })[PERMANENT] === true;
}

/** Reason given to a job's `signal` when its job was cancelled (`QueueProducer.cancel`); it is not retried. */
export class JobCancelledError extends RedisQueueError {}

/** Reason given to a job's `signal` when its attempt ran past its `timeout`; the attempt counts as failed. */
export class JobTimeoutError extends RedisQueueError {}

const RATE_LIMITED = Symbol.for('nestjs-redis-queue.rate-limited');

/** True for RateLimitedError, from any copy of this library. */
export function isRateLimited(error: unknown): error is RateLimitedError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { [RATE_LIMITED]?: unknown })[RATE_LIMITED] === true &&
    typeof (error as RateLimitedError).retryAfterMs === 'number'
  );
}

/**
 * Throw it from a handler when a downstream service throttled the job: it goes back to the queue and runs
 * again after `retryAfterMs`, without counting an attempt.
 */
export class RateLimitedError extends RedisQueueError {
  readonly [RATE_LIMITED] = true;

  constructor(
    /** ms before the job may run again. */
    readonly retryAfterMs: number,
    message = `rate limited: retry after ${retryAfterMs} ms`,
  ) {
    super(message);
  }
}

/**
 * Redis is out of memory (`maxmemory` reached under `noeviction`): nothing was stored. Workers keep
 * settling and draining, which frees memory; retry once it is back under its limit.
 */
export class RedisOutOfMemoryError extends RedisQueueError {}

/** `waitForResult` on a job that was dead-lettered; `reason` is the dead-letter error. */
export class JobDeadLetteredError extends RedisQueueError {
  constructor(
    readonly queue: string,
    readonly jobId: string,
    readonly reason: { name: string; message: string; stack?: string },
  ) {
    super(`job ${jobId} of queue "${queue}" was dead-lettered: ${reason.name}: ${reason.message}`);
  }
}

/** A wait (e.g. `waitForResult`) ran out of time; the job may still finish later. */
export class WaitTimeoutError extends RedisQueueError {}
