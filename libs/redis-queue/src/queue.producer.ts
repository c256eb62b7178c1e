import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { broadcast, BulkJob, CancelResult, EnqueueOptions, JobProducer, parseTrack, QueueNotifications, QueueRef, queueName, ScheduleSpec } from './engine/index.js';
import { PayloadValidator } from './payload.validator.js';
import { REDIS_QUEUE_RESOLVED_OPTIONS } from './redis-queue.constants.js';
import { RedisQueueConnections } from './redis-queue.connections.js';
import type { ResolvedRedisQueueOptions } from './redis-queue.options.js';
import { RedisQueueInstrumentation } from './redis-queue.instrumentation.js';

/**
 * Enqueues jobs. Inject it anywhere; each call resolves with the job id only after Redis has stored the
 * job, and rejects without storing anything when the payload or options are invalid.
 */
@Injectable()
export class QueueProducer implements OnApplicationBootstrap {
  private engine?: JobProducer;

  constructor(
    @Inject(REDIS_QUEUE_RESOLVED_OPTIONS) private readonly options: ResolvedRedisQueueOptions,
    private readonly connections: RedisQueueConnections,
    private readonly validator: PayloadValidator,
    private readonly instrumentation: RedisQueueInstrumentation,
  ) {}

  onApplicationBootstrap(): void {
    // Connect once the app has booted (not earlier: a failed bootstrap must not leave a socket open),
    // so the first enqueue does not pay for the connection.
    this.producer();
  }

  /**
   * Stores one job and resolves with its id.
   * @param queue the queue: a name (letters, digits, `._:-`) or a `defineQueue` token, whose payload type
   *   the compiler checks and whose validator (if any) runs first
   * @param payload any JSON value; a class instance with class-validator rules is validated first
   */
  enqueue<T>(queue: string | QueueRef<unknown, T>, payload: NoInfer<T>, options?: EnqueueOptions): Promise<string> {
    // Not an async function: one job per HTTP request is the common case, and this path must add no
    // promise of its own to the engine's (it coalesces concurrent calls into one script call).
    let pending: Promise<void> | undefined | void;
    try {
      pending = this.validator.checkForEnqueue(queue, payload);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    if (pending) return pending.then(() => this.producer().enqueue(queue, payload, options));
    return this.producer().enqueue(queue, payload, options);
  }

  /** Stores many jobs in one round trip per batch of 1000; resolves with their ids in the order given. */
  async enqueueMany<T>(queue: string | QueueRef<unknown, T>, items: ReadonlyArray<BulkJob<NoInfer<T>>>): Promise<string[]> {
    if (Array.isArray(items)) {
      for (let i = 0; i < items.length; i++) {
        const item: unknown = items[i];
        if (typeof item !== 'object' || item === null) continue; // the engine rejects it, naming the item
        try {
          // Synchronous checks (most) cost no await per item, which a large batch would feel.
          const pending = this.validator.checkForEnqueue(queue, (item as BulkJob).payload);
          if (pending) await pending;
        } catch (error) {
          if (items.length > 1) (error as Error).message = `job ${i}: ${(error as Error).message}`;
          throw error;
        }
      }
    }
    return this.producer().enqueueMany(queue, items);
  }

  /**
   * Sends `payload` to every app instance subscribed to `channel` now: each runs its
   * `@BroadcastHandler(channel)` methods once. At-most-once (Redis Pub/Sub): an instance that is down or
   * reconnecting misses it, so use it for notices (cache invalidation, config reload), not for jobs.
   * Resolves once Redis has taken the message; the payload is checked as for jobs (JSON, size cap, and
   * class-validator rules of a class instance).
   */
  async broadcast<T>(channel: string, payload: T): Promise<void> {
    const pending = this.validator.checkForBroadcast(channel, payload);
    if (pending) await pending;
    const { prefix, maxPayloadBytes, commandTimeout: timeout } = this.options;
    return broadcast({ client: this.connections.producer(), prefix, maxPayloadBytes, timeout }, channel, payload);
  }

  /**
   * Creates or replaces a recurring schedule: `{ cron, timeZone? }` or `{ every }` (ms), with the
   * `payload` and `options` of each tick's job. Exactly one job per tick however many instances run, with
   * no leader; the queue's workers produce the ticks. Resolves true if it is new or changed. With a
   * `defineQueue` token, the payload is typed and checked by the token's validator now, not at each tick.
   */
  async schedule<T>(queue: string | QueueRef<unknown, T>, name: string, spec: ScheduleSpec & { payload?: NoInfer<T> }): Promise<boolean> {
    if (typeof spec === 'object' && spec !== null) {
      const pending = this.validator.checkForEnqueue(queue, spec.payload ?? null);
      if (pending) await pending;
    }
    return this.producer().schedule(queueName(queue), name, spec);
  }

  /** Removes a schedule (and the job it enqueued ahead for its next tick). Resolves true if it existed. */
  unschedule(queue: string | QueueRef, name: string): Promise<boolean> {
    return this.producer().unschedule(queueName(queue), name);
  }

  /**
   * Cancels a job (it must be tracked: enqueue option `track`, or a queue tracked by default). A waiting
   * or delayed job is removed; a running one has its `signal` aborted with `JobCancelledError` wherever it
   * runs and is not retried. The outcome says which happened: `removed`, `aborting`, `finished` (it had
   * already completed, been cancelled or died) or `not-found`.
   */
  cancel(queue: string | QueueRef, id: string): Promise<CancelResult> {
    return this.producer().cancel(queueName(queue), id);
  }

  /**
   * Resolves with a tracked job's result (its handler's return value) once it completed. Rejects with
   * `JobDeadLetteredError` (carrying the dead-letter error) if it died, `JobCancelledError` if it was
   * cancelled, `WaitTimeoutError` after `timeout` ms (default 30000).
   */
  waitForResult<R = unknown>(queue: string | QueueRef, id: string, options?: { timeout?: number }): Promise<R> {
    return this.producer().waitForResult<R>(queueName(queue), id, options);
  }

  private producer(): JobProducer {
    return (this.engine ??= new JobProducer({
      client: this.connections.producer(),
      prefix: this.options.prefix,
      maxPayloadBytes: this.options.maxPayloadBytes,
      timeout: this.options.commandTimeout,
      replication: this.options.waitForReplicas,
      notifications: this.notifications(),
      trackedQueues: trackedQueues(this.options.queues),
      traceparent: this.instrumentation.traceparent,
    }));
  }

  /** The module's subscriber, connected only when a wait first needs it. */
  private notifications(): QueueNotifications {
    const pubsub = () => this.connections.subscriber();
    return {
      subscribe: (channel, listener) => pubsub().subscribe(channel, listener),
      whenSubscribed: (channel) => pubsub().whenSubscribed(channel),
      onResubscribed: (listener) => pubsub().onResubscribed(listener),
    };
  }
}

/** Queues whose jobs module option `queues` says to track by default, with their retention. */
function trackedQueues(queues: ResolvedRedisQueueOptions['queues']): Map<string, number> {
  const tracked = new Map<string, number>();
  for (const [name, overrides] of Object.entries(queues)) {
    const retention = parseTrack(overrides.track, `queues.${name}.track`);
    if (retention !== undefined) tracked.set(name, retention);
  }
  return tracked;
}
