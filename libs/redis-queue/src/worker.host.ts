import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import {
  LIBRARY_VERSION,
  parseSchedule,
  QueueWorker,
  RedisClient,
  RedisQueueError,
  RedisUnavailableError,
  Scheduler,
  ScheduleStore,
  WorkerHealth,
  WorkerRegistration,
} from './engine/index.js';
import { HandlerExplorer, QueueHandlerBinding } from './handler.explorer.js';
import { REDIS_QUEUE_LOGGER, REDIS_QUEUE_RESOLVED_OPTIONS } from './redis-queue.constants.js';
import { RedisQueueConnections } from './redis-queue.connections.js';
import { messages } from './redis-queue.messages.js';
import type { ResolvedRedisQueueOptions } from './redis-queue.options.js';
import { checkRedisDurability } from './redis-config.check.js';
import { RedisQueueInstrumentation } from './redis-queue.instrumentation.js';

/**
 * Owns the lifecycle: starts one worker loop per handler at bootstrap; at shutdown first stops claiming
 * and drains running jobs (beforeApplicationShutdown), then closes every Redis connection
 * (onApplicationShutdown), so producers keep working until the app closes.
 */
@Injectable()
export class WorkerHost implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(REDIS_QUEUE_LOGGER);
  private workers: QueueWorker[] = [];
  private registration?: WorkerRegistration;
  private scheduler?: Scheduler;
  private declaring?: Promise<void>;
  private closing = false;
  /** The startup durability check, stopped when shutdown begins so that it sends nothing after. */
  private durabilityCheck?: { stop: AbortController; done: Promise<void> };

  constructor(
    @Inject(REDIS_QUEUE_RESOLVED_OPTIONS) private readonly options: ResolvedRedisQueueOptions,
    private readonly explorer: HandlerExplorer,
    private readonly connections: RedisQueueConnections,
    private readonly instrumentation: RedisQueueInstrumentation,
  ) {}

  /** The liveness of this process's worker loops (for health checks); empty when none run here. */
  workerHealth(): WorkerHealth[] {
    return this.workers.map((worker) => worker.health());
  }

  onApplicationBootstrap(): void {
    const all = this.explorer.handlers();
    if (this.options.checkRedisConfig) {
      const stop = new AbortController();
      this.durabilityCheck = { stop, done: checkRedisDurability(this.connections.producer(), this.logger, stop.signal) };
    }
    if (!this.options.consumers) {
      if (all.length > 0) this.logger.log(messages.consumersDisabled(all.length));
      return;
    }
    const handlers = this.explorer.consumedHandlers();
    const skipped = all.filter((handler) => !handlers.includes(handler)).map((handler) => handler.queue);
    if (skipped.length > 0) this.logger.log(messages.consumersSkipped(skipped));
    if (handlers.length === 0) return;
    const client = this.connections.worker();
    const notifications = this.connections.subscriber();
    this.workers = handlers.map(
      (handler) =>
        new QueueWorker({
          queue: handler.queue,
          prefix: this.options.prefix,
          client,
          notifications,
          process: handler.run,
          concurrency: handler.concurrency,
          leaseMs: this.options.leaseDuration,
          defaults: {
            attempts: handler.options.attempts ?? this.options.defaults.attempts,
            backoff: handler.options.backoff ?? this.options.defaults.backoff,
            timeout: handler.options.timeout,
          },
          // Every worker states the queue-wide rules its handler declares (none is a statement too): the
          // last to start sets them for all.
          rules: {
            rateLimit: handler.options.rateLimit ?? null,
            globalConcurrency: handler.options.globalConcurrency ?? null,
            groupConcurrency: handler.options.groupConcurrency ?? null,
            groupRateLimit: handler.options.groupRateLimit ?? null,
          },
          logger: this.logger,
          logPayloads: this.options.logPayloads,
          jobIdRetention: this.options.jobIdRetention,
          observers: this.instrumentation.observers,
        }),
    );
    this.declaring = this.declareSchedules(handlers, client);
    for (const worker of this.workers) worker.start();
    this.registration = new WorkerRegistration(
      client,
      this.options.prefix,
      handlers.map((h) => ({ queue: h.queue, concurrency: h.concurrency })),
      LIBRARY_VERSION,
    );
    this.registration.start();
    // The schedules of the queues this app runs: every instance ticks them, one job per tick.
    this.scheduler = new Scheduler({
      client,
      notifications,
      prefix: this.options.prefix,
      queues: this.workers.map((w) => w.queue),
      logger: this.logger,
    });
    this.scheduler.start();
    this.logger.log(messages.workersStarted(this.workers.map((w) => w.queue)));
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.durabilityCheck?.stop.abort();
    this.closing = true;
    // A declaration in flight while Redis is away must not hold shutdown: it gives up with the app.
    await Promise.race([this.declaring, new Promise<void>((resolve) => setTimeout(resolve, 1000).unref())]);
    this.scheduler?.stop();
    this.scheduler = undefined;
    if (this.workers.length === 0) return;
    this.logger.log(messages.workersStopping(this.options.shutdownTimeout));
    await Promise.all(this.workers.map((worker) => worker.stop(this.options.shutdownTimeout)));
    this.workers = [];
    await this.registration?.stop();
    this.registration = undefined;
    this.logger.log(messages.workersStopped());
  }

  /**
   * Stores the schedules the handlers declare and removes those the code no longer declares (retrying in
   * the background while Redis is away: the app starts meanwhile).
   */
  private async declareSchedules(handlers: readonly QueueHandlerBinding[], client: RedisClient): Promise<void> {
    const store = new ScheduleStore(client, this.options.prefix);
    for (const handler of handlers) {
      const declared = handler.options.schedule;
      for (let attempt = 0; !this.closing; attempt++) {
        try {
          if (declared) {
            const { name = 'handler', ...spec } = declared;
            await store.upsert(handler.queue, name, parseSchedule(spec, 'decorator', 'schedule', this.options.maxPayloadBytes));
            await store.prune(handler.queue, [name]);
          } else {
            await store.prune(handler.queue, []);
          }
          break;
        } catch (error) {
          if (error instanceof RedisQueueError && !(error instanceof RedisUnavailableError)) {
            this.logger.error(messages.scheduleRefused(handler.queue, (error as Error).message));
            break;
          }
          if (attempt === 0) this.logger.warn(messages.schedulesNotStored(handler.queue, (error as Error).message));
          await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 200 * 2 ** attempt)).unref());
        }
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.durabilityCheck?.stop.abort(); // also when beforeApplicationShutdown did not run
    await this.durabilityCheck?.done;
    await this.connections.closeAll();
  }
}
