import { Injectable, Type } from '@nestjs/common';
import { Redis } from 'ioredis';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import type { QueueHandlerOptions } from 'nestjs-redis-queue';
import { ChildScript } from './child.js';
import { notifyChannel } from '../../libs/redis-queue/src/engine/index.js';
import { redisUrl, waitFor } from './helpers.js';

/** What a test's handler does with a job. */
export type TestHandler = (payload: any, job: JobContext) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A provider class whose one method handles `queue` by calling `run` (so each test writes only the body). */
export function handlerFor(queue: string, run: TestHandler, options: QueueHandlerOptions = {}): Type<unknown> {
  class Handlers {
    handle(payload: unknown, job: JobContext): unknown {
      return run(payload, job);
    }
  }
  const descriptor = Object.getOwnPropertyDescriptor(Handlers.prototype, 'handle')!;
  QueueHandler(queue, options)(Handlers.prototype, 'handle', descriptor);
  Object.defineProperty(Handlers, 'name', { value: `Handlers_${queue.replace(/\W/g, '_')}` });
  Injectable()(Handlers);
  return Handlers;
}

/** Resolves once `signal` aborts (at once if it already did). */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}

/** Settings of a worker process of this release (test/fixtures/steering-worker.ts). */
export interface WorkerProcessSettings {
  prefix: string;
  queues?: string[];
  /** One number for every queue, or per queue. */
  concurrency?: number | Record<string, number>;
  leaseMs?: number;
  url?: string;
}

/** Starts a worker app of this release in its own process; resolves once it printed "ready". */
export async function startWorkerProcess(settings: WorkerProcessSettings): Promise<ChildScript> {
  const concurrency =
    typeof settings.concurrency === 'object'
      ? Object.entries(settings.concurrency)
          .map(([queue, n]) => `${queue}=${n}`)
          .join(',')
      : String(settings.concurrency ?? 4);
  const child = ChildScript.start('test/fixtures/steering-worker.ts', {
    REDIS_URL: settings.url ?? redisUrl(),
    RQ_PREFIX: settings.prefix,
    RQ_QUEUES: (settings.queues ?? ['steer']).join(','),
    RQ_CONCURRENCY: concurrency,
    RQ_LEASE_MS: String(settings.leaseMs ?? 30_000),
  });
  try {
    await child.waitForLine(/^ready$/, 60_000);
  } catch (error) {
    await child.kill();
    throw error;
  }
  return child;
}

/** Lines of a child's output that match. */
export function linesMatching(child: ChildScript, pattern: RegExp): string[] {
  return child.lines.filter((line) => pattern.test(line));
}

/**
 * Commands Redis executed so far, by INFO commandstats, without the commands a measurement itself sends
 * (`info`) and those in `except`.
 */
export async function commandsExecuted(client: Redis, except: readonly string[] = []): Promise<number> {
  const text = await client.info('commandstats');
  let total = 0;
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (match[1] === 'info' || except.includes(match[1])) continue;
    total += Number(match[2]);
  }
  return total;
}

/** Commands executed by command name (INFO commandstats). */
export async function commandsByName(client: Redis): Promise<Record<string, number>> {
  const text = await client.info('commandstats');
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts[match[1]] = Number(match[2]);
  return counts;
}

/**
 * Waits until at least `count` connections subscribe to the queue's notification channel (workers hear
 * cancels and wake-ups through it; a worker that has just started may not have subscribed yet).
 */
export async function waitForSubscribers(client: Redis, prefix: string, queue: string, count = 1): Promise<void> {
  const channel = notifyChannel(prefix, queue);
  await waitFor(
    async () => {
      const reply = (await client.pubsub('NUMSUB', channel)) as [string, number];
      return Number(reply[1]) >= count;
    },
    20_000,
    `${count} subscriber(s) of ${channel}`,
  );
}

/** Closes the Pub/Sub connections named `<prefix>:subscriber` (ioredis reconnects them shortly after). */
export async function killSubscribers(client: Redis, prefix: string): Promise<number> {
  const list = (await client.client('LIST')) as string;
  let killed = 0;
  for (const line of list.split('\n')) {
    if (!line.includes(` name=${prefix}:subscriber `)) continue;
    const id = /\bid=(\d+)/.exec(line)?.[1];
    if (id) killed += Number(await client.client('KILL', 'ID', id));
  }
  return killed;
}

/** A command Redis ran, as MONITOR reports it (commands run inside scripts are left out). */
export interface MonitoredCommand {
  args: string[];
  /** The client's address (`ip:port`). */
  source: string;
}

/**
 * Records the commands clients send to a Redis (MONITOR), without those scripts run inside them: one
 * entry per round trip a client made. Use a Redis of the test's own: MONITOR sees every client.
 */
export class CommandMonitor {
  readonly commands: MonitoredCommand[] = [];
  private constructor(
    private readonly client: Redis,
    private readonly monitor: Redis,
  ) {}

  static async start(port: number): Promise<CommandMonitor> {
    const client = new Redis(port, '127.0.0.1');
    const monitor = await client.monitor();
    const recorder = new CommandMonitor(client, monitor);
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source !== 'lua') recorder.commands.push({ args, source });
    });
    return recorder;
  }

  /** Commands recorded from `from` (an index into `commands`) on, by clients other than `except`. */
  since(from: number, except: (command: MonitoredCommand) => boolean = () => false): MonitoredCommand[] {
    return this.commands.slice(from).filter((c) => !except(c));
  }

  async stop(): Promise<void> {
    this.monitor.disconnect();
    this.client.disconnect();
  }
}
