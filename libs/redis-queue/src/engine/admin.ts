import { describe } from './describe.js';
import { InvalidOptionError, RedisQueueError, RedisUnavailableError } from './errors.js';
import { assertQueueName, queueKeyList } from './keys.js';
import { QueueRef, queueName } from './queue-ref.js';
import { RedisClient, whenReady } from './redis-client.js';
import { listWorkers, WorkerInfo } from './registry.js';
import { packArgs, ScriptedClient, withScripts } from './scripts.js';

/** Jobs started per `duration` ms, at most, across every worker of a queue. */
export interface RateLimit {
  /** Jobs started per window, at least 1. */
  max: number;
  /** The window, in ms (1 ms to 24 hours). */
  duration: number;
}

/** Queue-wide rules every worker of a queue obeys, stored in Redis (see `QueueAdmin.configure`). */
export interface QueueRules {
  /** Jobs started per window across every worker. `null`: none. */
  rateLimit?: RateLimit | null;
  /** Jobs running at once across every worker. `null`: no limit. */
  globalConcurrency?: number | null;
  /** Jobs of one group running at once across every worker. `null`: no limit. */
  groupConcurrency?: number | null;
  /** Jobs of one group started per window across every worker. `null`: none. */
  groupRateLimit?: RateLimit | null;
}

/** Dead-letter entries processed at once when all of them are retried or removed. */
const DEAD_BATCH = 1000;

/** Validates a rate limit; `field` names it in errors. */
export function parseRateLimit(value: unknown, field: string): RateLimit {
  const o = value as Partial<RateLimit>;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(field, `must be { max, duration } (got ${describe(value)})`);
  }
  const extra = Object.keys(value).filter((key) => key !== 'max' && key !== 'duration');
  if (extra.length > 0) throw new InvalidOptionError(`${field}.${extra[0]}`, 'is not a rate limit option (known: max, duration)');
  if (typeof o.max !== 'number' || !Number.isInteger(o.max) || o.max < 1 || o.max > 1_000_000) {
    throw new InvalidOptionError(`${field}.max`, `must be an integer from 1 to 1000000 (got ${describe(o.max)})`);
  }
  if (typeof o.duration !== 'number' || !Number.isInteger(o.duration) || o.duration < 1 || o.duration > 86_400_000) {
    throw new InvalidOptionError(`${field}.duration`, `must be an integer number of ms from 1 to 86400000 (got ${describe(o.duration)})`);
  }
  return { max: o.max, duration: o.duration };
}

/**
 * Steers queues for every worker at once: pause and resume, the dead-letter set, delayed jobs, and the
 * queue-wide rules. The engine class beneath the Nest `QueueAdmin`, the dashboard and the CLI.
 */
export class QueueAdmin {
  private readonly timeout: number;

  constructor(
    private readonly connection: RedisClient | (() => RedisClient),
    private readonly prefix: string,
    settings: { timeout?: number } = {},
  ) {
    this.timeout = settings.timeout ?? 5000;
  }

  /**
   * Pauses a queue for every worker: nothing more starts until `resume`; running jobs finish, retries
   * and delays go on being kept. Persisted in Redis. Resolves with false if it already was paused.
   */
  async pause(queue: string | QueueRef): Promise<boolean> {
    return (await this.call(queueName(queue), 'pause', (c, keys) => c.rqPause(...keys, packArgs(c, { paused: true })))) === 1;
  }

  /** Resumes a paused queue; idle workers start at once. Resolves with false if it was not paused. */
  async resume(queue: string | QueueRef): Promise<boolean> {
    return (await this.call(queueName(queue), 'resume', (c, keys) => c.rqPause(...keys, packArgs(c, { paused: false })))) === 1;
  }

  /**
   * Puts dead jobs back in the queue with their attempts reset: the given ids, or all of them (in
   * batches, so a million dead jobs never block Redis). Resolves with how many were retried.
   */
  retryDead(queue: string | QueueRef, ids?: readonly string[]): Promise<number> {
    return this.dead(queueName(queue), 'retry', ids);
  }

  /** Deletes dead jobs: the given ids, or all of them (in batches). Resolves with how many were removed. */
  removeDead(queue: string | QueueRef, ids?: readonly string[]): Promise<number> {
    return this.dead(queueName(queue), 'remove', ids);
  }

  /**
   * Runs a delayed job now. Tracked jobs are found by id; for an untracked one pass the stored `member`
   * that `QueueInspector.jobs(queue, 'delayed')` lists. Resolves with false when it was not delayed.
   */
  async promote(queue: string | QueueRef, id: string, member?: string): Promise<boolean> {
    return (await this.call(queueName(queue), 'promote', (c, keys) => c.rqPromote(...keys, packArgs(c, { id, member })))) === 1;
  }

  /**
   * Sets the queue-wide rules every worker obeys (workers set those their handlers declare when they
   * start: the last to start wins). A field left out is left as it is; `null` removes the rule.
   * Resolves with the rules as they were.
   */
  async configure(queue: string | QueueRef, rules: QueueRules): Promise<QueueRules> {
    const args: Record<string, string | number | false> = {};
    const rate = (r: RateLimit | null | undefined, field: string) =>
      r === undefined ? undefined : r === null ? false : ((r = parseRateLimit(r, field)), `${r.max},${r.duration}`);
    const count = (n: number | null | undefined, field: string) => {
      if (n === undefined) return undefined;
      if (n === null) return false;
      if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new InvalidOptionError(field, `must be an integer from 1 to 1000000 (got ${describe(n)})`);
      return n;
    };
    const fields: Array<[string, string | number | false | undefined]> = [
      ['rate', rate(rules.rateLimit, 'rateLimit')],
      ['gconc', count(rules.globalConcurrency, 'globalConcurrency')],
      ['gmax', count(rules.groupConcurrency, 'groupConcurrency')],
      ['grate', rate(rules.groupRateLimit, 'groupRateLimit')],
    ];
    for (const [name, value] of fields) if (value !== undefined) args[name] = value;
    const previous = await this.call(queueName(queue), 'configure', (c, keys) => c.rqConfigure(...keys, packArgs(c, args)));
    const parse = (text: string | null | undefined): RateLimit | null => {
      const m = /^(\d+),(\d+)$/.exec(text ?? '');
      return m ? { max: Number(m[1]), duration: Number(m[2]) } : null;
    };
    return {
      rateLimit: parse(previous[0]),
      globalConcurrency: previous[1] ? Number(previous[1]) : null,
      groupConcurrency: previous[2] ? Number(previous[2]) : null,
      groupRateLimit: parse(previous[3]),
    };
  }

  /** The worker processes alive under this prefix (host, pid, queues, concurrency, last heartbeat). */
  async workers(): Promise<WorkerInfo[]> {
    const client = await this.client('workers');
    return listWorkers(client, this.prefix);
  }

  private async dead(queue: string, op: 'retry' | 'remove', ids?: readonly string[]): Promise<number> {
    assertQueueName(queue);
    if (ids !== undefined && !Array.isArray(ids)) throw new InvalidOptionError('ids', `must be an array of job ids (got ${describe(ids)})`);
    let done = 0;
    if (ids) {
      for (let i = 0; i < ids.length; i += DEAD_BATCH) {
        const batch = ids.slice(i, i + DEAD_BATCH);
        const [n] = await this.call(queue, `${op}Dead`, (c, keys) => c.rqDead(...keys, packArgs(c, { op, ids: batch })));
        done += Number(n);
      }
      return done;
    }
    for (;;) {
      const [n, left] = await this.call(queue, `${op}Dead`, (c, keys) => c.rqDead(...keys, packArgs(c, { op, limit: DEAD_BATCH })));
      done += Number(n);
      if (Number(n) === 0 || Number(left) === 0) return done;
    }
  }

  private async client(what: string): Promise<ScriptedClient> {
    const client = typeof this.connection === 'function' ? this.connection() : this.connection;
    await whenReady(client, this.timeout, `QueueAdmin.${what}`);
    return withScripts(client);
  }

  private async call<T>(queue: string, what: string, run: (client: ScriptedClient, keys: string[]) => Promise<T>): Promise<T> {
    assertQueueName(queue);
    const client = await this.client(what);
    try {
      return await run(client, queueKeyList(this.prefix, queue));
    } catch (error) {
      if (error instanceof RedisQueueError) throw error;
      throw new RedisUnavailableError(`QueueAdmin.${what}("${queue}"): ${(error as Error).message}`);
    }
  }
}
