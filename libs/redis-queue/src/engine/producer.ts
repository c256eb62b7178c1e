import { assertJobId, DEFAULT_MAX_PAYLOAD_BYTES, encodePayload, encodeTail } from './codec.js';
import {
  InvalidOptionError,
  InvalidPayloadError,
  JobCancelledError,
  JobDeadLetteredError,
  RedisOutOfMemoryError,
  RedisQueueError,
  RedisUnavailableError,
  WaitTimeoutError,
} from './errors.js';
import { JobState, QueueInspector } from './inspector.js';
import { EnqueueOptions, parseEnqueueOptions, parseTrack } from './job-options.js';
import { assertQueueName, notifyChannel, queueKeyList } from './keys.js';
import { QueueNotifications } from './notifications.js';
import { QueueRef, queueName } from './queue-ref.js';
import { producerMessages } from './producer.messages.js';
import { RedisClient, replaceIfStale, whenReady } from './redis-client.js';
import { noteQueue } from './registry.js';
import { assertScheduleName, parseSchedule, ScheduleSpec, ScheduleStore } from './schedules.js';
import { ReplicationOptions, ReplicationTimeoutError, waitForReplicas } from './replication.js';
import { packArgs, ScriptedClient, withScripts } from './scripts.js';

export interface ProducerSettings {
  /** A connection created with the `producer` role. */
  client: RedisClient;
  prefix: string;
  /** Cap on a payload's JSON size in bytes. Default: 512 KiB. */
  maxPayloadBytes?: number;
  /** ms to wait for Redis before `enqueue` rejects. Default: 5000. */
  timeout?: number;
  /** Jobs per script call in `enqueueMany`, and the most single enqueues coalesced into one call. Default: 1000. */
  batchSize?: number;
  /** Resolve only once this many replicas have the jobs (Redis WAIT). Default: off. */
  replication?: ReplicationOptions;
  /** Retention of tracked jobs for queues whose jobs are tracked by default (queue name -> ms). */
  trackedQueues?: ReadonlyMap<string, number>;
  /** The process's Pub/Sub subscriber, for `waitForResult`. */
  notifications?: QueueNotifications;
  /**
   * Tracing: gives the W3C traceparent of the active trace context, which each job then carries to
   * the span of its attempts (see tracing.ts). Default: none (jobs carry no trace context).
   */
  traceparent?: () => string | undefined;
}

/** What `cancel` did. */
export interface CancelResult {
  /**
   * `removed`: it was waiting or delayed and will never run; `aborting`: it was running, its signal is
   * aborted with JobCancelledError wherever it runs, and it will not be retried; `finished`: it had
   * already completed, been cancelled or died; `not-found`: no tracked job with this id (cancel needs
   * the `track` option: an untracked job is not findable by id).
   */
  outcome: 'removed' | 'aborting' | 'finished' | 'not-found';
  /** Where the job was, when known. */
  state?: JobState;
}

/** One job for `enqueueMany`. */
export interface BulkJob<T = unknown> {
  payload: T;
  options?: EnqueueOptions;
}

/** Bytes of job data in one script call at most; a larger batch is split (Redis caps one argument). */
const MAX_CALL_BYTES = 32 * 1024 * 1024;
/** Single enqueues of one queue in flight at once; the ones arriving meanwhile are sent together next. */
const MAX_IN_FLIGHT = 2;

/** Errors from before a command was written: nothing reached Redis. */
const NOT_SENT = /Stream isn't writeable|Connection is closed|enableOfflineQueue|max retries|Cluster isn't ready|All sentinels are unreachable|None of startup nodes/i;
/** Errors meaning Redis could not be reached or was failing over after a command went out: outcome unknown. */
const UNKNOWN = /timed out|ECONNRESET|EPIPE|ECONNREFUSED|Too many Cluster redirections|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|LOADING|READONLY|socket/i;

interface PreparedJob {
  jobId: string;
  delayMs: number;
  tail: string;
  track: number;
  routed: boolean;
  /** Debounce: key, window, longest wait. */
  debounce?: [string, number, number];
}

interface WaitingJob {
  job: PreparedJob;
  resolve: (id: string) => void;
  reject: (error: Error) => void;
}

/** Single enqueues of one queue waiting for the next script call (see `enqueue`). */
interface Coalescer {
  keys: string[];
  queue: string;
  waiting: WaitingJob[];
  inFlight: number;
}

/** Stores jobs. Every method resolves only after Redis has stored them, and validates before writing. */
export class JobProducer {
  private readonly client: ScriptedClient;
  private readonly keys = new Map<string, string[]>();
  private readonly coalescers = new Map<string, Coalescer>();
  private readonly maxPayloadBytes: number;
  private readonly timeout: number;
  private readonly batchSize: number;

  /** Bytes of job data per script call: MAX_CALL_BYTES, or less when the server's proto-max-bulk-len is lower. */
  private maxCallBytes = MAX_CALL_BYTES;

  constructor(private readonly settings: ProducerSettings) {
    this.client = withScripts(settings.client);
    // One argument larger than proto-max-bulk-len makes Redis drop the whole connection (every command
    // in flight on it fails): learn the server's limit once, and never send more. Without CONFIG rights
    // (a managed Redis, an ACL user) the default stands.
    void whenReady(this.client, 60_000, 'proto-max-bulk-len')
      .then(() => this.client.config('GET', 'proto-max-bulk-len') as Promise<string[]>)
      .then(([, value]) => {
        const limit = Number(value);
        if (limit > 0) this.maxCallBytes = Math.min(MAX_CALL_BYTES, Math.floor(limit * 0.9) - 1024);
      })
      .catch(() => undefined);
    this.maxPayloadBytes = settings.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.timeout = settings.timeout ?? 5000;
    this.batchSize = settings.batchSize ?? 1000;
  }

  /**
   * Stores one job; resolves with its id (the existing id when `jobId` is already in the queue). Calls
   * made while an earlier one is on its way to Redis travel together in the next script call, so a
   * hundred requests in flight cost a few round trips, and a lone call is sent at once.
   */
  enqueue<T>(queue: string | QueueRef<unknown, T>, payload: NoInfer<T>, options?: EnqueueOptions): Promise<string> {
    let coalescer: Coalescer;
    let job: PreparedJob;
    try {
      coalescer = this.coalescerOf(queueName(queue));
      job = this.prepare(this.defaultRetention(queue), { payload, options }, 0, 1, Date.now());
    } catch (error) {
      return Promise.reject(error as Error); // a bad queue name, option or payload rejects; it never throws
    }
    return new Promise<string>((resolve, reject) => {
      coalescer.waiting.push({ job, resolve, reject });
      if (coalescer.inFlight < MAX_IN_FLIGHT) void this.drain(coalescer);
    });
  }

  /** Stores many jobs, one round trip per batch; ids come back in the order given. */
  async enqueueMany<T>(queue: string | QueueRef<unknown, T>, jobs: ReadonlyArray<BulkJob<NoInfer<T>>>): Promise<string[]> {
    const name = queueName(queue);
    const keys = this.keysOf(name);
    if (!Array.isArray(jobs)) throw new TypeError('enqueueMany expects an array of { payload, options? }');
    const now = Date.now();
    const retention = this.defaultRetention(queue);
    const prepared = jobs.map((job, index) => this.prepare(retention, job, index, jobs.length, now));
    if (prepared.length === 0) return [];
    await this.ready(name);
    const batches = this.split(prepared);
    const settled = await Promise.allSettled(batches.map((batch) => this.store(name, keys, batch)));
    const failed = settled.findIndex((s) => s.status === 'rejected');
    if (failed >= 0) {
      const reason = (settled[failed] as PromiseRejectedResult).reason as Error;
      replaceIfStale(this.client, reason);
      const stored = settled.filter((s) => s.status === 'fulfilled').length;
      throw this.wrap(reason, name, settled.length > 1 ? { stored, total: settled.length, size: this.batchSize } : undefined);
    }
    return settled.flatMap((s) => (s as PromiseFulfilledResult<string[]>).value);
  }

  private coalescerOf(queue: string): Coalescer {
    let coalescer = this.coalescers.get(queue);
    if (!coalescer) {
      coalescer = { keys: this.keysOf(queue), queue, waiting: [], inFlight: 0 };
      this.coalescers.set(queue, coalescer);
    }
    return coalescer;
  }

  /** Sends what waits, one script call at a time per slot, until nothing waits. */
  private async drain(c: Coalescer): Promise<void> {
    c.inFlight++;
    try {
      while (c.waiting.length > 0) {
        const batch = takeBatch(c.waiting, this.batchSize, this.maxCallBytes);
        try {
          await this.ready(c.queue);
          const ids = await this.store(c.queue, c.keys, batch.map((w) => w.job));
          batch.forEach((w, i) => w.resolve(ids[i]));
          // Let the callers just answered (a request loop, an HTTP server's next requests) enqueue their
          // next jobs before the next call leaves: a turn of the event loop makes batches of most of them
          // instead of a few (measured: 100 callers, 28 -> 66 jobs per call, +30% throughput). A lone call
          // is never delayed: it goes at once when nothing is in flight.
          if (c.waiting.length < this.batchSize) await new Promise<void>((resolve) => setImmediate(resolve));
        } catch (error) {
          replaceIfStale(this.client, error);
          const wrapped = this.wrap(error as Error, c.queue, undefined);
          for (const w of batch) w.reject(wrapped);
        }
      }
    } finally {
      c.inFlight--;
    }
  }

  /**
   * Creates or replaces the schedule `name` of `queue`: one job per tick, across every instance, produced
   * by the workers of the queue (see Scheduler). Unchanged, it keeps its next and last run.
   */
  async schedule(queue: string, name: string, spec: ScheduleSpec): Promise<boolean> {
    assertScheduleName(name);
    const parsed = parseSchedule(spec, 'api', 'schedule', this.maxPayloadBytes);
    this.keysOf(queue);
    await this.ready(queue);
    try {
      return await this.schedules().upsert(queue, name, parsed);
    } catch (error) {
      throw this.wrap(error as Error, queue, undefined);
    }
  }

  /** Removes the schedule `name` of `queue`, and the job it had enqueued ahead for its next tick. */
  async unschedule(queue: string, name: string): Promise<boolean> {
    assertScheduleName(name);
    this.keysOf(queue);
    await this.ready(queue);
    try {
      return await this.schedules().remove(queue, name);
    } catch (error) {
      throw this.wrap(error as Error, queue, undefined);
    }
  }

  private scheduleStore?: ScheduleStore;
  private schedules(): ScheduleStore {
    return (this.scheduleStore ??= new ScheduleStore(this.client, this.settings.prefix));
  }

  /**
   * Cancels a tracked job: a waiting or delayed one is removed (O(log N)), a running one is aborted on
   * whichever machine runs it and not retried; fencing keeps a cancelled attempt from settling as a success.
   */
  async cancel(queue: string, id: string): Promise<CancelResult> {
    assertJobId(id, 'id');
    const keys = this.keysOf(queue);
    await this.ready(queue);
    let reply: [string, string];
    try {
      reply = await this.client.rqCancel(...keys, packArgs(this.client, { id }));
    } catch (error) {
      throw this.wrap(error as Error, queue, undefined);
    }
    const [outcome, state] = reply;
    const result: CancelResult = { outcome: outcome === 'unknown' ? 'not-found' : (outcome as CancelResult['outcome']) };
    if (state) result.state = (state === 'cancelling' ? 'active' : state) as JobState;
    return result;
  }

  /**
   * Resolves with a tracked job's result (the handler's return value) once it completed; rejects with
   * JobDeadLetteredError if it died, JobCancelledError if it was cancelled, WaitTimeoutError after
   * `timeout` ms (default 30000), and InvalidOptionError for a job that is not tracked or unknown.
   */
  async waitForResult<R = unknown>(queue: string, id: string, options: { timeout?: number } = {}): Promise<R> {
    const timeout = options.timeout ?? 30_000;
    if (typeof timeout !== 'number' || !(timeout > 0)) throw new InvalidOptionError('timeout', `must be a positive number of ms (got ${String(timeout)})`);
    const notifications = this.settings.notifications;
    if (!notifications) throw new RedisQueueError(producerMessages.noSubscriber);
    this.keysOf(queue);
    const inspector = new QueueInspector(this.client, this.settings.prefix, { timeout: this.timeout });
    const channel = notifyChannel(this.settings.prefix, queue);
    return new Promise<R>((resolve, reject) => {
      let done = false;
      let checking = false;
      let again = false;
      const stops: Array<() => void> = [];
      const finish = (error: Error | undefined, value?: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        for (const stop of stops) stop();
        if (error) reject(error);
        else resolve(value as R);
      };
      const check = async (): Promise<void> => {
        if (checking) {
          again = true;
          return;
        }
        checking = true;
        try {
          const info = await inspector.job(queue, id);
          if (!info) finish(new InvalidOptionError('id', producerMessages.notTracked(queue, id)));
          else if (info.state === 'completed') finish(undefined, info.result);
          else if (info.state === 'dead') finish(new JobDeadLetteredError(queue, id, info.error ?? { name: 'Error', message: 'dead' }));
          else if (info.state === 'cancelled') finish(new JobCancelledError(producerMessages.cancelled(queue, id)));
        } catch (error) {
          finish(error as Error);
        } finally {
          checking = false;
          if (again && !done) {
            again = false;
            void check();
          }
        }
      };
      const timer = setTimeout(() => finish(new WaitTimeoutError(producerMessages.waitTimeout(queue, id, timeout))), timeout);
      stops.push(
        notifications.subscribe(channel, (message) => {
          if (message === `d${id}`) void check();
        }),
        notifications.onResubscribed(() => void check()),
      );
      // Looked at once the subscription is in place, so that a finish in between is not missed.
      notifications.whenSubscribed(channel).then(check, (error: Error) => finish(error));
    });
  }

  private async ready(queue: string): Promise<void> {
    try {
      await whenReady(this.client, this.timeout, `enqueue to "${queue}"`);
    } catch (error) {
      (error as Error).message += producerMessages.notStored;
      throw error;
    }
  }

  private keysOf(queue: string): string[] {
    let keys = this.keys.get(queue);
    if (!keys) {
      assertQueueName(queue);
      keys = queueKeyList(this.settings.prefix, queue);
      this.keys.set(queue, keys);
    }
    return keys;
  }

  /** Tracking retention of jobs of this queue that do not say: the token's `track`, else the settings'. */
  private defaultRetention(queue: string | QueueRef): number | undefined {
    if (typeof queue === 'object' && queue !== null && queue.track !== undefined) return parseTrack(queue.track, 'track');
    return this.settings.trackedQueues?.get(queueName(queue));
  }

  private prepare(queueRetention: number | undefined, job: BulkJob, index: number, total: number, now: number): PreparedJob {
    try {
      if (typeof job !== 'object' || job === null || !('payload' in job)) {
        throw new TypeError('expected { payload, options? }');
      }
      const options = parseEnqueueOptions(job.options, now);
      let ext = options.ext;
      if (queueRetention !== undefined && ext?.trackRetention === undefined && (job.options as EnqueueOptions | undefined)?.track !== false) {
        ext = { ...ext, trackRetention: queueRetention };
      }
      const traceparent = this.settings.traceparent?.();
      if (traceparent !== undefined) ext = { ...ext, traceparent };
      const tail = encodeTail(encodePayload(job.payload, this.maxPayloadBytes), options.stored, options.traceId, ext);
      if (tail.length * 3 > this.maxCallBytes && Buffer.byteLength(tail) > this.maxCallBytes) {
        throw new InvalidPayloadError(producerMessages.tooLargeForOneCall(Buffer.byteLength(tail), this.maxCallBytes));
      }
      return {
        jobId: options.jobId ?? '',
        delayMs: options.delayMs,
        tail,
        track: ext?.trackRetention ?? 0,
        routed: ext?.priority !== undefined || ext?.group !== undefined || options.debounce !== undefined,
        debounce: options.debounce ? [options.debounce.key, options.debounce.delay, options.debounce.maxWait] : undefined,
      };
    } catch (error) {
      if (total > 1 && error instanceof Error) error.message = `job ${index}: ${error.message}`;
      throw error;
    }
  }

  /** Batches of at most batchSize jobs and MAX_CALL_BYTES of job data each. */
  private split(jobs: PreparedJob[]): PreparedJob[][] {
    const batches: PreparedJob[][] = [];
    let current: PreparedJob[] = [];
    let bytes = 0;
    for (const job of jobs) {
      if (current.length > 0 && (current.length >= this.batchSize || bytes + job.tail.length * 3 > this.maxCallBytes)) {
        batches.push(current);
        current = [];
        bytes = 0;
      }
      current.push(job);
      bytes += job.tail.length * 3;
    }
    if (current.length > 0) batches.push(current);
    return batches;
  }

  private async store(queue: string, keys: string[], jobs: PreparedJob[]): Promise<string[]> {
    const tails = new Array<string>(jobs.length);
    let generate = 0;
    let anyCallerId = false;
    let anyDelay = false;
    let anyTrack = false;
    let anyDebounce = false;
    let routed = false;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i];
      tails[i] = job.tail;
      if (job.jobId === '') generate++;
      else anyCallerId = true;
      if (job.delayMs > 0) anyDelay = true;
      if (job.track > 0) anyTrack = true;
      if (job.routed) routed = true;
      if (job.debounce) anyDebounce = true;
    }
    const args = packArgs(this.client, {
      tails,
      gen: generate,
      ids: anyCallerId ? jobs.map((job) => job.jobId) : undefined,
      delays: anyDelay ? jobs.map((job) => job.delayMs) : undefined,
      track: anyTrack ? jobs.map((job) => job.track) : undefined,
      routed: routed || undefined,
      debounce: anyDebounce ? jobs.map((job) => job.debounce ?? false) : undefined,
    });
    const [first, ...rest] = (await this.client.rqEnqueue(...keys, args)) as Array<number | [number, string]>;
    // The queue registry (for tools): once an hour per queue, after a store succeeded.
    noteQueue(this.client, this.settings.prefix, queue);
    const replication = this.settings.replication;
    if (replication) {
      const timeout = replication.timeout ?? this.timeout;
      const acknowledged = await waitForReplicas(this.client, keys[0], replication.replicas, timeout);
      if (acknowledged < replication.replicas) throw new ReplicationTimeoutError(acknowledged, replication.replicas, timeout);
    }
    // Debounced jobs that collapsed into a waiting one come back as [index, id] pairs after the result.
    let next = Number(first);
    const ids = jobs.map((job) => (job.jobId === '' ? String(next++) : job.jobId));
    for (const entry of rest) {
      if (Array.isArray(entry)) ids[Number(entry[0])] = String(entry[1]);
    }
    return ids;
  }

  private wrap(error: Error, queue: string, partial: { stored: number; total: number; size: number } | undefined): Error {
    if (error instanceof RedisUnavailableError || error instanceof ReplicationTimeoutError) return error;
    if (/OOM command not allowed/.test(error.message)) return new RedisOutOfMemoryError(producerMessages.outOfMemory(queue));
    if (NOT_SENT.test(error.message)) {
      return new RedisUnavailableError(producerMessages.notSent(queue, error.message, partial));
    }
    if (UNKNOWN.test(error.message)) {
      return new RedisUnavailableError(producerMessages.unknownOutcome(queue, this.timeout, error.message, partial));
    }
    if (partial) error.message += producerMessages.partial(partial);
    return error;
  }
}

/** Takes up to `max` waiting jobs and at most `maxBytes` of job data (at least one; UTF-16 units x 3). */
function takeBatch(waiting: WaitingJob[], max: number, maxBytes: number): WaitingJob[] {
  let n = 0;
  let bytes = 0;
  while (n < waiting.length && n < max && (n === 0 || bytes + waiting[n].job.tail.length * 3 <= maxBytes)) {
    bytes += waiting[n].job.tail.length * 3;
    n++;
  }
  return waiting.splice(0, n);
}
