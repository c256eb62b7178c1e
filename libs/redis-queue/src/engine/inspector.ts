import { decodeRecord } from './codec.js';
import { queueKeys } from './keys.js';
import { RedisClient } from './redis-client.js';

/** How many jobs a queue holds in each state. */
export interface QueueCounts {
  /** Waiting to be claimed. */
  ready: number;
  /** Waiting for their due time (including retries in backoff). */
  delayed: number;
  /** Claimed by a worker, under lease. */
  active: number;
  /** In the dead-letter set. */
  dead: number;
}

/** A job in the dead-letter set, with the error that put it there. */
export interface DeadJob {
  id: string;
  queue: string;
  failedAt: Date;
  /** Attempts used, including the last one. */
  attemptsMade: number;
  error: { name: string; message: string; stack?: string };
  /** The payload, when the stored record could be decoded. */
  payload?: unknown;
  traceId?: string;
  /** The stored job record as it was (for malformed jobs, the raw bytes found in Redis). */
  record: string;
}

/** Read-only views of a queue, for tests, health checks and admin tools. */
export class QueueInspector {
  /** @param connection a client, or a function giving one on first use (so nothing connects early) */
  constructor(
    private readonly connection: RedisClient | (() => RedisClient),
    private readonly prefix: string,
  ) {}

  private get client(): RedisClient {
    return typeof this.connection === 'function' ? this.connection() : this.connection;
  }

  async counts(queue: string): Promise<QueueCounts> {
    const k = queueKeys(this.prefix, queue);
    const results = await this.client
      .pipeline()
      .llen(k.ready)
      .zcard(k.delayed)
      .hget(k.claims, '#active')
      .hlen(k.dead)
      .exec();
    const [ready, delayed, active, dead] = (results ?? []).map(([error, value]) => {
      if (error) throw error;
      return Number(value);
    });
    return { ready, delayed, active, dead };
  }

  /** Dead jobs, newest first. */
  async deadJobs(queue: string, options: { offset?: number; limit?: number } = {}): Promise<DeadJob[]> {
    const k = queueKeys(this.prefix, queue);
    const offset = options.offset ?? 0;
    const ids = await this.client.zrevrange(k.deadIndex, offset, offset + (options.limit ?? 100) - 1);
    if (ids.length === 0) return [];
    const entries = await this.client.hmget(k.dead, ...ids);
    return entries.flatMap((entry) => (entry === null ? [] : [parseDeadEntry(queue, entry)]));
  }

  async deadJob(queue: string, id: string): Promise<DeadJob | undefined> {
    const entry = await this.client.hget(queueKeys(this.prefix, queue).dead, id);
    return entry === null ? undefined : parseDeadEntry(queue, entry);
  }
}

function parseDeadEntry(queue: string, entry: string): DeadJob {
  const raw = JSON.parse(entry) as { id: string; failedAt: number; error: DeadJob['error'] & { attemptsMade?: number }; record: string };
  const { attemptsMade, ...error } = raw.error;
  const dead: DeadJob = {
    id: raw.id,
    queue,
    failedAt: new Date(raw.failedAt),
    attemptsMade: attemptsMade ?? 0,
    error,
    record: raw.record,
  };
  try {
    const job = decodeRecord(raw.record);
    dead.payload = job.payload;
    dead.traceId = job.traceId;
    dead.attemptsMade = job.attemptsMade;
  } catch {
    // malformed jobs keep only their raw record
  }
  return dead;
}
