import { Inject, Injectable } from '@nestjs/common';
import { describe, InvalidOptionError, notifyChannel, QueueInspector, whenReady } from '../engine/index.js';
import { REDIS_QUEUE_RESOLVED_OPTIONS } from '../redis-queue.constants.js';
import { RedisQueueConnections } from '../redis-queue.connections.js';
import type { ResolvedRedisQueueOptions } from '../redis-queue.options.js';
import { WorkerHost } from '../worker.host.js';
import { healthMessages } from './health.messages.js';

/** Thresholds of one queue: crossing one reports the check down, with the reason. */
export interface QueueHealthThresholds {
  /** Down when the ready job that has waited longest has waited more than this many ms. Default: none. */
  maxReadyAge?: number;
  /** Down when the dead-letter set holds more than this many jobs. Default: none. */
  maxDead?: number;
}

/** Options of `RedisQueueHealthIndicator.isHealthy`. */
export interface QueueHealthOptions {
  /** ms Redis gets to answer PING. Default: 1000. */
  timeout?: number;
  /** Check the worker loops of this process (Redis round trips, lease renewals, notifications). Default: true. */
  workers?: boolean;
  /** Thresholds per queue name, e.g. `{ email: { maxReadyAge: 60_000, maxDead: 100 } }`. Default: none. */
  queues?: Record<string, QueueHealthThresholds>;
}

/** One worker loop as the check saw it. */
export interface WorkerLoopStatus {
  queue: string;
  status: 'up' | 'down';
  running: number;
  /** When its last claim round trip succeeded (ISO time), if one did. */
  lastRoundTrip?: string;
}

/** What the check reports under its key: the shape `@nestjs/terminus` reads (`status: 'up' | 'down'`). */
export interface QueueHealthStatus {
  status: 'up' | 'down';
  /** Milliseconds Redis took to answer PING. */
  redisLatencyMs?: number;
  workers: WorkerLoopStatus[];
  /** Counts and waits of the queues given thresholds. */
  queues?: Record<string, { ready: number; dead: number; oldestReadyAge?: number }>;
  /** down: the first problem; `problems` lists them all. */
  reason?: string;
  problems?: string[];
}

/** `{ [key]: status }`: a `@nestjs/terminus` HealthIndicatorResult. */
export type QueueHealthResult = Record<string, QueueHealthStatus>;

/**
 * A health indicator for `@nestjs/terminus` (use it in `HealthCheckService.check([...])`), or for any
 * health endpoint: Redis answers; the worker loops of this process are alive (their round trips to
 * Redis succeed, leases are renewed on time, the notification subscription holds); and optional
 * thresholds per queue (oldest ready job, dead jobs). A problem resolves as `status: 'down'` with the
 * reason, which terminus turns into a 503; Redis failures never make the check throw (invalid options do).
 */
@Injectable()
export class RedisQueueHealthIndicator {
  constructor(
    @Inject(REDIS_QUEUE_RESOLVED_OPTIONS) private readonly options: ResolvedRedisQueueOptions,
    private readonly connections: RedisQueueConnections,
    private readonly inspector: QueueInspector,
    private readonly host: WorkerHost,
  ) {}

  /** Runs the check; resolves with `{ [key]: { status, ... } }`. Default key: `'redis-queue'`. */
  async isHealthy(key = 'redis-queue', options: QueueHealthOptions = {}): Promise<QueueHealthResult> {
    const timeout = options.timeout ?? 1000;
    const thresholds = Object.entries(options.queues ?? {});
    for (const [queue, t] of thresholds) checkThresholds(queue, t);
    const problems: string[] = [];
    const status: QueueHealthStatus = { status: 'up', workers: [] };

    const started = Date.now();
    const reachable = await this.ping(timeout).then(
      () => true,
      (error: Error) => (problems.push(healthMessages.redisUnreachable(error.message)), false),
    );
    if (reachable) status.redisLatencyMs = Date.now() - started;

    if (options.workers !== false) status.workers = this.workerLoops(problems);

    if (reachable && thresholds.length > 0) {
      status.queues = {};
      const queues = thresholds.map(([queue]) => queue);
      const [counts, oldest] = await Promise.all([
        this.inspector.countsOf(queues),
        Promise.all(thresholds.map(([queue, t]) => (t.maxReadyAge === undefined ? undefined : this.inspector.oldestReady(queue)))),
      ]).catch((error: Error) => {
        problems.push(healthMessages.redisUnreachable(error.message));
        return [undefined, []] as const;
      });
      thresholds.forEach(([queue, t], i) => {
        const c = counts?.get(queue);
        if (!c) return;
        const entry: { ready: number; dead: number; oldestReadyAge?: number } = { ready: c.ready, dead: c.dead };
        const head = oldest[i];
        if (head) entry.oldestReadyAge = head.waitingMs;
        if (t.maxReadyAge !== undefined && head && head.waitingMs > t.maxReadyAge) {
          problems.push(healthMessages.oldestReady(queue, head.id, head.waitingMs, t.maxReadyAge));
        }
        if (t.maxDead !== undefined && c.dead > t.maxDead) problems.push(healthMessages.tooManyDead(queue, c.dead, t.maxDead));
        status.queues![queue] = entry;
      });
    }

    if (problems.length > 0) {
      status.status = 'down';
      status.reason = problems[0];
      status.problems = problems;
    }
    return { [key]: status };
  }

  private async ping(timeout: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(healthMessages.pingTimeout(timeout))), timeout);
      timer.unref();
    });
    try {
      const client = this.connections.producer();
      await Promise.race([whenReady(client, timeout, 'health check', 'the check\'s "timeout" bounds this wait').then(() => client.ping()), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  private workerLoops(problems: string[]): WorkerLoopStatus[] {
    const loops = this.host.workerHealth();
    if (loops.length === 0) return [];
    const now = Date.now();
    const pubsub = this.connections.subscriber();
    return loops.map((h) => {
      const found: string[] = [];
      if (h.lifecycle === 'stopped') found.push(healthMessages.stopped(h.queue));
      if (h.lifecycle === 'running') {
        if (h.failingSince !== undefined) found.push(healthMessages.loopFailing(h.queue, now - h.failingSince, h.lastError ?? 'unknown error'));
        if (h.renewFailingSince !== undefined) {
          found.push(healthMessages.renewFailing(h.queue, now - h.renewFailingSince, h.lastError ?? 'unknown error'));
        } else if (h.lastRenewalAt !== undefined && now - h.lastRenewalAt > (h.leaseMs * 2) / 3) {
          found.push(healthMessages.renewLate(h.queue, now - h.lastRenewalAt, Math.max(50, Math.floor(h.leaseMs / 3))));
        }
        if (!pubsub.isSubscribed(notifyChannel(this.options.prefix, h.queue))) found.push(healthMessages.notSubscribed(h.queue));
      }
      problems.push(...found);
      const loop: WorkerLoopStatus = { queue: h.queue, status: found.length > 0 ? 'down' : 'up', running: h.running };
      if (h.lastRoundTripAt !== undefined) loop.lastRoundTrip = new Date(h.lastRoundTripAt).toISOString();
      return loop;
    });
  }
}

function checkThresholds(queue: string, t: QueueHealthThresholds): void {
  for (const field of ['maxReadyAge', 'maxDead'] as const) {
    const value = t?.[field];
    if (value !== undefined && (typeof value !== 'number' || !(value >= 0))) {
      throw new InvalidOptionError(`queues.${queue}.${field}`, healthMessages.invalidThreshold(describe(value)));
    }
  }
}
