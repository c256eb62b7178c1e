import type { DecodedJob } from './codec.js';
import type { Delivery } from './delivery.js';

const job = (queue: string, j: { id: string; traceId: string }) => `Queue "${queue}": job ${j.id} (trace ${j.traceId})`;

/** The engine's log lines (worker loop, leases, shutdown), built in one place so wording stays consistent. */
export const workerMessages = {
  malformed: (queue: string, id: string, reason: string) => `Queue "${queue}": job ${id || '(no id)'} dead-lettered: ${reason}`,
  exhausted: (made: number, max: number) =>
    `attempts exhausted (${made}/${max}): the last delivery was lost with its worker or lease`,
  deadLettered: (queue: string, j: DecodedJob, reason: string) => `${job(queue, j)} dead-lettered: ${reason}`,
  leaseRanOut: (queue: string, j: DecodedJob) =>
    `${job(queue, j)} not started: its claim's lease ran out before it could start (the event loop was blocked); it goes back to the queue`,
  staleSettles: (queue: string, n: number) =>
    `Queue "${queue}": ${n} finished job(s) were not settled because their lease had been lost (another delivery owns them)`,
  cancelling: (queue: string, d: Delivery) => `${job(queue, d)} cancelled: aborting its handler`,
  timedOut: (id: string, timeout: number) => `job ${id} ran past its timeout of ${timeout} ms`,
  ignoresTimeout: (queue: string, d: Delivery, grace: number) =>
    `${job(queue, d)} still runs ${grace} ms after its timeout aborted it; its attempt is settled as failed now (a retry may run elsewhere) and it keeps its concurrency slot until it returns`,
  outcomeDropped: (queue: string, d: Delivery) =>
    `${job(queue, d)} finished after its delivery was abandoned (lease lost or released); outcome dropped`,
  throttled: (queue: string, d: Delivery, ms: number) => `${job(queue, d)} rate limited by its handler: runs again in ${ms} ms (no attempt counted)`,
  failedDead: (queue: string, d: Delivery, why: string, message: string, payload: string) =>
    `${job(queue, d)} ${why}: ${message}; dead-lettered${payload}`,
  failedRetry: (queue: string, d: Delivery, message: string, delay: number, payload: string) =>
    `${job(queue, d)} failed on attempt ${d.attempt}/${d.maxAttempts}: ${message}; retrying in ${delay} ms${payload}`,
  resultNotKept: (queue: string, d: Delivery, reason: string) => `${job(queue, d)} completed, but its result is not kept: ${reason}`,
  leaseLost: (queue: string, d: Delivery) =>
    `${job(queue, d)}: its claim's lease is gone (it expired and the job went back to the queue); aborting this delivery`,
  renewFailing: (queue: string, reason: string) =>
    `Queue "${queue}": lease renewal failing (${reason}); retrying, running jobs keep going while their lease lasts`,
  renewResumed: (queue: string, ms: number) => `Queue "${queue}": lease renewal works again after ${ms} ms`,
  shutdownAbort: (timeout: number) => `worker shutting down: job did not finish within ${timeout} ms`,
  released: (queue: string, n: number) => `Queue "${queue}": released ${n} unfinished job(s) back to the queue at shutdown`,
  shutdownUnsettled: (queue: string, finished: number, released: number, reason: string) =>
    `Queue "${queue}": could not reach Redis at shutdown (${reason}): ${finished} finished job(s) were not acknowledged and ` +
    `${released} unfinished job(s) were not released; they run again once their lease expires`,
  rulesChanged: (queue: string, changes: string) =>
    `Queue "${queue}": queue-wide rules set by this worker for every worker of the queue: ${changes}`,
  rulesNotStored: (queue: string, reason: string) =>
    `Queue "${queue}": could not store the queue's rules yet (${reason}); retrying before claiming`,
  observerFailed: (queue: string, reason: string) => `Queue "${queue}": a job observer threw (${reason}); ignored`,
  paused: (queue: string, reason: string) => `Queue "${queue}": worker loop paused: ${reason}; retrying with backoff`,
  resumed: (queue: string, ms: number) => `Queue "${queue}": worker loop resumed after ${ms} ms`,
};
