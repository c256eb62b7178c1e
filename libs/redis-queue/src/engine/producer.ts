import { DEFAULT_MAX_PAYLOAD_BYTES, encodePayload, encodeTail, RS } from './codec.js';
import { RedisUnavailableError } from './errors.js';
import { EnqueueOptions, parseEnqueueOptions } from './job-options.js';
import { assertQueueName, queueKeys, QueueKeys } from './keys.js';
import { RedisClient, replaceIfStale, whenReady } from './redis-client.js';
import { ReplicationOptions, ReplicationTimeoutError, waitForReplicas } from './replication.js';
import { scriptKeys, ScriptedClient, withScripts } from './scripts.js';

export interface ProducerSettings {
  /** A connection created with the `producer` role. */
  client: RedisClient;
  prefix: string;
  /** Cap on a payload's JSON size in bytes. Default: 512 KiB. */
  maxPayloadBytes?: number;
  /** ms to wait for Redis before `enqueue` rejects. Default: 5000. */
  timeout?: number;
  /** Jobs per script call in `enqueueMany`. Default: 1000. */
  batchSize?: number;
  /** Resolve only once this many replicas have the jobs (Redis WAIT). Default: off. */
  replication?: ReplicationOptions;
}

/** One job for `enqueueMany`. */
export interface BulkJob<T = unknown> {
  payload: T;
  options?: EnqueueOptions;
}

/** Errors meaning Redis could not be reached or was failing over: the outcome of the call is unknown. */
const UNAVAILABLE =
  /timed out|Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|max retries|Too many Cluster redirections|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|LOADING|Cluster isn't ready|All sentinels are unreachable|READONLY/i;

interface PreparedJob {
  jobId: string;
  delayMs: number;
  tail: string;
}

/** Stores jobs. Every method resolves only after Redis has stored them, and validates before writing. */
export class JobProducer {
  private readonly client: ScriptedClient;
  private readonly keys = new Map<string, string[]>();
  private readonly maxPayloadBytes: number;
  private readonly timeout: number;
  private readonly batchSize: number;

  constructor(private readonly settings: ProducerSettings) {
    this.client = withScripts(settings.client);
    this.maxPayloadBytes = settings.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.timeout = settings.timeout ?? 5000;
    this.batchSize = settings.batchSize ?? 1000;
  }

  /** Stores one job; resolves with its id (the existing id when `jobId` is already in the queue). */
  async enqueue<T>(queue: string, payload: T, options?: EnqueueOptions): Promise<string> {
    const [id] = await this.enqueueMany(queue, [{ payload, options }]);
    return id;
  }

  /** Stores many jobs, one round trip per batch; ids come back in the order given. */
  async enqueueMany<T>(queue: string, jobs: ReadonlyArray<BulkJob<T>>): Promise<string[]> {
    const keys = this.keysOf(queue);
    if (!Array.isArray(jobs)) throw new TypeError('enqueueMany expects an array of { payload, options? }');
    const now = Date.now();
    const prepared = jobs.map((job, index) => this.prepare(job, index, jobs.length, now));
    if (prepared.length === 0) return [];
    await whenReady(this.client, this.timeout, `enqueue to "${queue}"`);
    const batches: Promise<string[]>[] = [];
    for (let start = 0; start < prepared.length; start += this.batchSize) {
      batches.push(this.store(keys, prepared.slice(start, start + this.batchSize)));
    }
    const settled = await Promise.allSettled(batches);
    const failed = settled.findIndex((s) => s.status === 'rejected');
    if (failed >= 0) {
      const reason = (settled[failed] as PromiseRejectedResult).reason as Error;
      replaceIfStale(this.client, reason);
      const stored = settled.filter((s) => s.status === 'fulfilled').length;
      const partial = settled.length > 1 ? ` (${stored} of ${settled.length} batches of ${this.batchSize} were stored)` : '';
      throw this.wrap(reason, queue, partial);
    }
    return settled.flatMap((s) => (s as PromiseFulfilledResult<string[]>).value);
  }

  private keysOf(queue: string): string[] {
    let keys = this.keys.get(queue);
    if (!keys) {
      assertQueueName(queue);
      keys = scriptKeys.enqueue(queueKeys(this.settings.prefix, queue) as QueueKeys);
      this.keys.set(queue, keys);
    }
    return keys;
  }

  private prepare(job: BulkJob, index: number, total: number, now: number): PreparedJob {
    try {
      if (typeof job !== 'object' || job === null || !('payload' in job)) {
        throw new TypeError('expected { payload, options? }');
      }
      const options = parseEnqueueOptions(job.options, now);
      const tail = encodeTail(encodePayload(job.payload, this.maxPayloadBytes), options.stored, options.traceId);
      return { jobId: options.jobId ?? '', delayMs: options.delayMs, tail };
    } catch (error) {
      if (total > 1 && error instanceof Error) error.message = `job ${index}: ${error.message}`;
      throw error;
    }
  }

  private async store(keys: string[], jobs: PreparedJob[]): Promise<string[]> {
    // Packed: one argument each for the tails, the caller ids and the delays, instead of three per job.
    const tails = new Array<string>(jobs.length);
    let generate = 0;
    let anyCallerId = false;
    let anyDelay = false;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i];
      tails[i] = job.tail;
      if (job.jobId === '') generate++;
      else anyCallerId = true;
      if (job.delayMs > 0) anyDelay = true;
    }
    const args = [
      ...keys,
      jobs.length,
      generate,
      tails.join(RS),
      anyCallerId ? jobs.map((job) => job.jobId).join(RS) : '',
      anyDelay ? jobs.map((job) => job.delayMs).join(',') : '',
    ];
    const [first] = await this.client.rqEnqueue(...args);
    const replication = this.settings.replication;
    if (replication) {
      const timeout = replication.timeout ?? this.timeout;
      const acknowledged = await waitForReplicas(this.client, keys[0], replication.replicas, timeout);
      if (acknowledged < replication.replicas) throw new ReplicationTimeoutError(acknowledged, replication.replicas, timeout);
    }
    let next = Number(first);
    return jobs.map((job) => (job.jobId === '' ? String(next++) : job.jobId));
  }

  private wrap(error: Error, queue: string, partial: string): Error {
    if (error instanceof RedisUnavailableError || error instanceof ReplicationTimeoutError) return error;
    if (UNAVAILABLE.test(error.message)) {
      return new RedisUnavailableError(
        `enqueue to "${queue}": Redis did not confirm within ${this.timeout} ms (${error.message})${partial}; ` +
          'the job may or may not be stored, so retry with the same jobId to stay idempotent',
      );
    }
    if (partial) error.message += partial;
    return error;
  }
}
