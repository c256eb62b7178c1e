import { QueueAdmin, QueueHandlerOptions, QueueRules, RedisConnection } from 'nestjs-redis-queue';
import { Cluster, Redis } from 'ioredis';
import { ChildScript } from '../../support/child.js';
import { redisUrl, waitFor } from '../../support/helpers.js';

/** One handler start as a worker process printed it (test/fixtures/flow-worker.ts). */
export interface Start {
  id: string;
  attempt: number;
  /** Date.now() at handler start (one machine: every process shares the clock). */
  at: number;
  /** The claim's counter and the job's position in it: the order in which Redis handed jobs out. */
  claim: number;
  position: number;
  /** When the claim script handed it out: Redis's clock (TIME) in ms, as the script counts starts. */
  claimAt: number;
  /** µs between the claim script reading Redis's clock and the handler starting. */
  lagUs: number;
  group?: string;
  priority?: number;
  /** Handlers of the queue running at that moment in live processes, this one included (-1: no gauge). */
  running: number;
  /** The same for the job's group. */
  groupRunning: number;
  /** Order of the gauge readings over every process (-1: no gauge). */
  seq: number;
  /** Which worker process ran it (index into FlowWorkers.children). */
  worker: number;
}

export interface End {
  id: string;
  attempt: number;
  at: number;
  worker: number;
}

export interface FlowWorkersOptions {
  queue: string;
  prefix: string;
  /** Worker processes. Default: 3. */
  processes?: number;
  concurrency?: number;
  leaseMs?: number;
  handler?: QueueHandlerOptions;
  /** The module's `connection` (a URL or Cluster options). Default: the run's Redis. */
  connection?: RedisConnection;
  /** Gauge key prefix (running handlers per process); default `<prefix>-<queue>-gauge`. */
  gauge?: string;
}

/**
 * Worker processes running test/fixtures/flow-worker.ts on one queue, their start and end lines parsed.
 * The gauges live in `{<gauge>}` keys, in one slot, so the handlers' script also runs on Cluster.
 */
export class FlowWorkers {
  /** Every set of processes started and not stopped yet (flowSuite stops them after each test). */
  private static readonly live = new Set<FlowWorkers>();
  readonly children: ChildScript[] = [];
  readonly gauge: string;
  private readonly parsed: number[] = [];
  private readonly startList: Start[] = [];
  private readonly endList: End[] = [];

  constructor(private readonly options: FlowWorkersOptions) {
    this.gauge = `{${options.gauge ?? `${options.prefix}-${options.queue}-gauge`}}`;
  }

  /** Starts the processes and waits until each runs and Redis holds the rules their handler declares. */
  async start(): Promise<this> {
    FlowWorkers.live.add(this);
    const count = this.options.processes ?? 3;
    for (let i = 0; i < count; i++) this.spawn();
    await Promise.all(this.children.map((c) => c.waitForLine(/^ready$/, 60_000)));
    await this.rulesStored();
    return this;
  }

  /** One more process (e.g. after a kill), ready when this resolves. */
  async spawn(): Promise<ChildScript> {
    const env: Record<string, string> = {
      RQ_PREFIX: this.options.prefix,
      RQ_QUEUE: this.options.queue,
      RQ_CONCURRENCY: String(this.options.concurrency ?? 4),
      RQ_LEASE_MS: String(this.options.leaseMs ?? 5000),
      RQ_HANDLER: JSON.stringify(this.options.handler ?? {}),
      RQ_GAUGE: this.gauge,
    };
    if (this.options.connection !== undefined) env.RQ_CONNECTION = JSON.stringify(this.options.connection);
    else env.REDIS_URL = redisUrl();
    const child = ChildScript.start('test/fixtures/flow-worker.ts', env);
    this.children.push(child);
    this.parsed.push(0);
    return child;
  }

  /** Every handler start so far, in the order the processes printed them (per process). */
  starts(): Start[] {
    this.parse();
    return this.startList;
  }

  ends(): End[] {
    this.parse();
    return this.endList;
  }

  /** Starts ordered as Redis handed the jobs out (claim counter, then position in the claim). */
  inClaimOrder(): Start[] {
    return [...this.starts()].sort((a, b) => a.claim - b.claim || a.position - b.position);
  }

  waitForStarts(n: number, timeoutMs = 60_000, what = `${n} handler starts`): Promise<Start[]> {
    return waitFor(() => (this.starts().length >= n ? this.starts() : undefined), timeoutMs, what);
  }

  /** Waits until every id has a handler end (the handler returned or threw). */
  waitForEnds(ids: Iterable<string>, timeoutMs = 60_000): Promise<boolean> {
    const wanted = new Set(ids);
    return waitFor(
      () => {
        const done = new Set(this.ends().map((e) => e.id));
        for (const id of wanted) if (!done.has(id)) return false;
        return true;
      },
      timeoutMs,
      `${wanted.size} jobs to end`,
    );
  }

  /** SIGKILLs one process and takes it out of the gauges (its handlers never end). */
  async kill(index: number, redis: Redis | Cluster): Promise<void> {
    const child = this.children[index];
    await child.kill('SIGKILL');
    await redis.sadd(`${this.gauge}:dead`, String(child.process.pid));
  }

  /** SIGKILLs every process that started one of `ids`; resolves with their indexes. */
  async killHolders(ids: Iterable<string>, redis: Redis | Cluster): Promise<number[]> {
    const wanted = new Set(ids);
    const holders = [...new Set(this.starts().filter((s) => wanted.has(s.id)).map((s) => s.worker))];
    for (const index of holders) await this.kill(index, redis);
    return holders;
  }

  /** Running handlers per process as the gauge holds them (a killed process keeps its last count). */
  async running(redis: Redis | Cluster): Promise<Map<number, number>> {
    const fields = await redis.hgetall(`${this.gauge}:run`);
    const byWorker = new Map<number, number>();
    this.children.forEach((c, i) => byWorker.set(i, Number(fields[String(c.process.pid)] ?? 0)));
    return byWorker;
  }

  async stop(): Promise<void> {
    FlowWorkers.live.delete(this);
    await Promise.all(this.children.map((c) => c.kill('SIGTERM')));
  }

  /** Stops every set of processes still running. */
  static async stopAll(): Promise<void> {
    await Promise.all([...FlowWorkers.live].map((workers) => workers.stop()));
  }

  private async rulesStored(): Promise<void> {
    const h = this.options.handler ?? {};
    const want: QueueRules = {
      rateLimit: h.rateLimit ?? null,
      globalConcurrency: h.globalConcurrency ?? null,
      groupConcurrency: h.groupConcurrency ?? null,
      groupRateLimit: h.groupRateLimit ?? null,
    };
    const connection = this.options.connection;
    const client =
      typeof connection === 'object' && connection !== null && 'cluster' in connection
        ? new Cluster(connection.cluster)
        : new Redis(typeof connection === 'string' ? connection : redisUrl());
    try {
      const admin = new QueueAdmin(client, this.options.prefix);
      await waitFor(
        async () => JSON.stringify(await admin.configure(this.options.queue, {})) === JSON.stringify(want),
        30_000,
        'the workers to store their rules',
      );
    } finally {
      client.disconnect();
    }
  }

  private parse(): void {
    this.children.forEach((child, worker) => {
      for (let i = this.parsed[worker]; i < child.lines.length; i++) {
        const f = child.lines[i].split(' ');
        if (f[0] === 'start') {
          this.startList.push({
            id: f[1],
            attempt: Number(f[2]),
            at: Number(f[3]),
            claim: Number(f[4]),
            position: Number(f[5]),
            claimAt: Number(f[6]),
            lagUs: Number(f[7]),
            group: f[8] === '-' ? undefined : f[8],
            priority: f[9] === '-' ? undefined : Number(f[9]),
            running: Number(f[10]),
            groupRunning: Number(f[11]),
            seq: Number(f[12]),
            worker,
          });
        } else if (f[0] === 'end') {
          this.endList.push({ id: f[1], attempt: Number(f[2]), at: Number(f[3]), worker });
        }
      }
      this.parsed[worker] = child.lines.length;
    });
  }
}

/**
 * The most starts in any window of `duration` ms (integer ms, a window [t, t + duration) holds the starts
 * whose times differ by less than `duration`), and where it was.
 */
export function busiestWindow(times: number[], duration: number): { count: number; from: number } {
  const sorted = [...times].sort((a, b) => a - b);
  let best = { count: 0, from: sorted[0] ?? 0 };
  let j = 0;
  for (let i = 0; i < sorted.length; i++) {
    if (j < i) j = i;
    while (j < sorted.length && sorted[j] < sorted[i] + duration) j++;
    if (j - i > best.count) best = { count: j - i, from: sorted[i] };
  }
  return best;
}

/** Starts per fixed window of `duration` ms from `from`, for `windows` windows. */
export function perWindow(times: number[], from: number, duration: number, windows: number): number[] {
  const counts = new Array<number>(windows).fill(0);
  for (const t of times) {
    const w = Math.floor((t - from) / duration);
    if (w >= 0 && w < windows) counts[w]++;
  }
  return counts;
}
