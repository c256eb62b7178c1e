import { hostname } from 'os';
import { registryKeys } from './keys.js';
import { RedisClient } from './redis-client.js';

/** A worker process as the registry lists it (for the dashboard, the CLI and health checks). */
export interface WorkerInfo {
  /** Unique per process start: host, pid and a random part. */
  id: string;
  host: string;
  pid: number;
  /** The queues it runs, with their concurrency. */
  queues: Array<{ queue: string; concurrency: number }>;
  startedAt: Date;
  /** Its last heartbeat (its clock). */
  heartbeatAt: Date;
  /** The library version it runs. */
  version: string;
}

/** ms between heartbeats of a worker process. */
export const HEARTBEAT_MS = 10_000;
/** A worker whose last heartbeat is older than this is gone (crashed, or cut off). */
export const WORKER_GONE_MS = 3 * HEARTBEAT_MS + 5_000;

interface StoredWorker {
  host: string;
  pid: number;
  queues: Array<{ queue: string; concurrency: number }>;
  startedAt: number;
  heartbeatAt: number;
  version: string;
}

/**
 * Registers this process's workers under `<prefix>:workers` (one hash field per process, one HSET per
 * heartbeat: 0.1 commands/s, whatever the number of queues) and removes the entry when they stop. Single-key commands only: the
 * registry is outside every queue's hash slot.
 */
export class WorkerRegistration {
  readonly id: string;
  private timer?: NodeJS.Timeout;
  private readonly startedAt = Date.now();

  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    private readonly queues: Array<{ queue: string; concurrency: number }>,
    private readonly version: string,
  ) {
    this.id = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  }

  start(): void {
    if (this.timer) return;
    void this.beat();
    this.timer = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.timer.unref();
  }

  /** Removes the entry; waits at most `timeoutMs` for Redis (a dead entry also expires by itself). */
  async stop(timeoutMs = 1000): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.client.hdel(registryKeys(this.prefix).workers, this.id).catch(() => undefined),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  private beats = 0;

  private async beat(): Promise<void> {
    const entry: StoredWorker = {
      host: hostname(),
      pid: process.pid,
      queues: this.queues,
      startedAt: this.startedAt,
      heartbeatAt: Date.now(),
      version: this.version,
    };
    const keys = registryKeys(this.prefix);
    try {
      await this.client.hset(keys.workers, this.id, JSON.stringify(entry));
      // The queue registry: one command for every queue, once a minute (idle traffic must not grow with
      // the number of queues).
      if (this.beats++ % 6 === 0 && this.queues.length > 0) {
        const now = Date.now();
        await this.client.zadd(keys.queues, ...this.queues.flatMap((q) => [now, q.queue]));
      }
    } catch {
      // The next heartbeat tries again; the worker's own loop reports outages.
    }
  }
}

/** The worker processes alive under `prefix`; entries of processes gone silent are removed. */
export async function listWorkers(client: RedisClient, prefix: string, now = Date.now()): Promise<WorkerInfo[]> {
  const key = registryKeys(prefix).workers;
  const all = await client.hgetall(key);
  const alive: WorkerInfo[] = [];
  const gone: string[] = [];
  for (const [id, json] of Object.entries(all)) {
    let w: StoredWorker;
    try {
      w = JSON.parse(json) as StoredWorker;
    } catch {
      gone.push(id);
      continue;
    }
    if (now - w.heartbeatAt > WORKER_GONE_MS) {
      gone.push(id);
      continue;
    }
    alive.push({ id, host: w.host, pid: w.pid, queues: w.queues, startedAt: new Date(w.startedAt), heartbeatAt: new Date(w.heartbeatAt), version: w.version });
  }
  if (gone.length > 0) await client.hdel(key, ...gone);
  return alive.sort((a, b) => a.id.localeCompare(b.id));
}

const noted = new WeakMap<RedisClient, Map<string, number>>();

/**
 * Records that `queue` is in use, for tools that list queues (at most once an hour per process and
 * queue: it costs producers nothing per job).
 */
export function noteQueue(client: RedisClient, prefix: string, queue: string): void {
  let seen = noted.get(client);
  if (!seen) noted.set(client, (seen = new Map()));
  const now = Date.now();
  if ((seen.get(`${prefix}\0${queue}`) ?? 0) > now - 3_600_000) return;
  seen.set(`${prefix}\0${queue}`, now);
  client.zadd(registryKeys(prefix).queues, now, queue).catch(() => seen.delete(`${prefix}\0${queue}`));
}
