import type { Redis } from 'ioredis';
import { QueueAdmin } from '../../libs/redis-queue/src/engine/index.js';
import type { RedisServer } from '../../libs/redis-queue/src/testing/index.js';
import type { WorkerSlot } from './cluster.js';
import { PREFIX, RULES_QUEUE } from './jobs.js';
import type { Journal } from './journal.js';
import type { ChaosOptions, FaultKind } from './options.js';
import type { FaultProxy } from './proxy.js';
import { Random } from './random.js';

export interface FaultCounts {
  workerKills: number;
  workerTerms: number;
  redisRestarts: number;
  clientKills: number;
  pauses: number;
  proxyResets: number;
  blackholes: number;
  halfOpens: number;
  memoryPressures: number;
  /** QueueAdmin pauses of the rules queue that took effect (the call returned). */
  queuePauses: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Injects the faults, in two seeded loops that run side by side: one kills and restarts worker
 * processes (SIGKILL, now and then SIGTERM), the other breaks Redis and the network (kill -9 and restart
 * on the same AOF, CLIENT KILL, CLIENT PAUSE, proxy resets, blackholes, half-open connections, and
 * memory pressure: `maxmemory` below what Redis holds).
 * Each loop draws from its own stream of the seed, so a seed replays the same decisions (their timing
 * still depends on the machine).
 */
export class Nemesis {
  readonly counts: FaultCounts = {
    workerKills: 0,
    workerTerms: 0,
    redisRestarts: 0,
    clientKills: 0,
    pauses: 0,
    proxyResets: 0,
    blackholes: 0,
    halfOpens: 0,
    memoryPressures: 0,
    queuePauses: 0,
  };
  private readonly pending = new Set<Promise<unknown>>();
  /** Worker slots the process loop leaves alone (under a half-open fault, which is measured). */
  private readonly protectedSlots = new Set<number>();
  private halfOpenBusy = false;

  constructor(
    private readonly options: ChaosOptions,
    private readonly slots: WorkerSlot[],
    private readonly redis: RedisServer,
    private readonly proxy: FaultProxy,
    private readonly admin: Redis,
    private readonly journal: Journal,
    private readonly say: (line: string) => void,
    /** Called after each start of redis-server (a new pid). */
    private readonly onRedisStart: () => void = () => undefined,
  ) {}

  private on(kind: FaultKind): boolean {
    return this.options.faults.has(kind);
  }

  /** Runs both loops until `until` (a fault in progress runs to its end). */
  async run(until: number): Promise<void> {
    await Promise.all([this.processLoop(until), this.infraLoop(until), this.queuePauseLoop(until)]);
    await this.settle();
  }

  /** Waits for restarts still in progress (bounded by the workers' own boot timeout). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.catch((error: Error) => this.say(`  ! ${error.message}`));
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  private async processLoop(until: number): Promise<void> {
    const kinds = (['sigkill', 'sigterm'] as const).filter((k) => this.on(k));
    if (kinds.length === 0) return;
    const r = new Random(this.options.seed, 2);
    while (true) {
      const wait = r.int(2500, 5000);
      if (Date.now() + wait >= until) return;
      await sleep(wait);
      const kind = kinds.length === 2 ? (r.chance(0.8) ? 'sigkill' : 'sigterm') : kinds[0];
      const up = this.slots.filter((s) => s.up && !this.protectedSlots.has(s.slot));
      // Keep at least one worker running, so the run makes progress through every fault.
      if (up.length < Math.min(2, this.slots.length)) continue;
      const slot = r.pick(up);
      const inst = slot.inst!;
      this.journal.write({ e: 'fault', kind: kind === 'sigkill' ? 'worker-sigkill' : 'worker-sigterm', at: Date.now(), target: inst });
      if (kind === 'sigkill') {
        this.counts.workerKills++;
        await slot.kill('SIGKILL');
        const delay = r.int(300, 1500);
        this.track(sleep(delay).then(() => slot.restart()));
      } else {
        this.counts.workerTerms++;
        this.track(slot.kill('SIGTERM', this.options.shutdownMs + 10_000).then(() => slot.restart()));
      }
    }
  }

  /**
   * Pauses the rules queue with QueueAdmin (persisted in Redis, for every worker) for 1-4 s now and then,
   * beside the other faults. Journals `queue-paused` when the pause call returned (from then on nothing
   * may be claimed) and `queue-resume` just before the resume call; a pause call that failed is journaled
   * as `queue-pause-failed` (it may have taken effect: no rule applies, but the resume follows all the same).
   */
  private async queuePauseLoop(until: number): Promise<void> {
    if (!this.on('qpause')) return;
    const r = new Random(this.options.seed, 6);
    const admin = new QueueAdmin(this.admin, PREFIX, { timeout: 3000 });
    while (true) {
      const wait = r.int(6000, 14_000);
      const ms = r.int(1000, 4000);
      if (Date.now() + wait + ms >= until) return;
      await sleep(wait);
      const callAt = Date.now();
      try {
        await admin.pause(RULES_QUEUE);
        this.counts.queuePauses++;
        this.journal.write({ e: 'fault', kind: 'queue-paused', at: Date.now(), target: RULES_QUEUE, ms, detail: `called at ${callAt}` });
      } catch (error) {
        this.journal.write({ e: 'fault', kind: 'queue-pause-failed', at: Date.now(), target: RULES_QUEUE, detail: (error as Error).message });
      }
      await sleep(ms);
      await this.resumeRulesQueue(admin);
    }
  }

  /** Resumes the rules queue, retried until a call succeeds (Redis may be down or paused meanwhile). */
  async resumeRulesQueue(admin = new QueueAdmin(this.admin, PREFIX, { timeout: 3000 })): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.journal.write({ e: 'fault', kind: 'queue-resume', at: Date.now(), target: RULES_QUEUE });
      try {
        await admin.resume(RULES_QUEUE);
        this.journal.write({ e: 'fault', kind: 'queue-resumed', at: Date.now(), target: RULES_QUEUE });
        return;
      } catch (error) {
        if (attempt >= 60) throw error;
        await sleep(500);
      }
    }
  }

  private async infraLoop(until: number): Promise<void> {
    const weights: Partial<Record<FaultKind, number>> = {};
    const all: [FaultKind, number][] = [
      ['redis', 14],
      ['clientkill', 18],
      ['pause', 14],
      ['reset', 18],
      ['blackhole', 22],
      ['halfopen', 14],
      ['memory', 14],
    ];
    for (const [k, w] of all) if (this.on(k)) weights[k] = w;
    if (Object.keys(weights).length === 0) return;
    const r = new Random(this.options.seed, 3);
    while (true) {
      const wait = r.int(2500, 5500);
      if (Date.now() + wait >= until) return;
      await sleep(wait);
      let kind = r.weighted(weights as Record<FaultKind, number>);
      // Without AOF the point of the run is a Redis kill (the self-check): make sure one comes early.
      if (!this.options.aof && weights.redis && this.counts.redisRestarts === 0) kind = 'redis';
      try {
        await this.inject(kind, r, until);
      } catch (error) {
        this.say(`  ! fault ${kind} failed: ${(error as Error).message}`);
      }
    }
  }

  /** A proxy slot: a worker's (0..workers-1) or, now and then, the producer's (the last one). */
  private proxySlot(r: Random): number {
    return r.chance(0.2) ? this.slots.length : r.int(0, this.slots.length - 1);
  }

  private slotName(slot: number | undefined): string {
    return slot === undefined ? 'all' : slot === this.slots.length ? 'producer' : `slot${slot}`;
  }

  private async inject(kind: FaultKind, r: Random, until: number): Promise<void> {
    const at = Date.now();
    switch (kind) {
      case 'redis': {
        const down = r.int(300, 3000);
        this.journal.write({ e: 'fault', kind: 'redis-kill', at, ms: down });
        await this.redis.kill('SIGKILL');
        await sleep(down);
        await this.restartRedis();
        this.counts.redisRestarts++;
        this.journal.write({ e: 'fault', kind: 'redis-up', at: Date.now(), ms: Date.now() - at });
        return;
      }
      case 'clientkill': {
        const mode = r.pick(['worker', 'idle', 'both', 'some', 'producer'] as const);
        const list = String(await this.admin.client('LIST'));
        const conns = list
          .split('\n')
          .map((line) => ({ id: /\bid=(\d+)/.exec(line)?.[1], name: /\bname=(\S*)/.exec(line)?.[1] ?? '' }))
          .filter((c) => c.id !== undefined);
        const targets = conns.filter((c) => {
          const worker = c.name === `${PREFIX}:worker`;
          const idle = c.name.startsWith(`${PREFIX}:idle:`);
          if (mode === 'worker') return worker;
          if (mode === 'idle') return idle;
          if (mode === 'both') return worker || idle;
          if (mode === 'some') return (worker || idle) && r.chance(0.5);
          return c.name === `${PREFIX}:producer`;
        });
        let killed = 0;
        for (const c of targets) killed += Number(await this.admin.client('KILL', 'ID', c.id!));
        this.counts.clientKills += killed;
        this.journal.write({ e: 'fault', kind: 'client-kill', at, target: mode, detail: `${killed} connection(s)` });
        return;
      }
      case 'pause': {
        const ms = r.int(1000, 4000);
        const mode = r.chance(0.7) ? 'ALL' : 'WRITE';
        this.journal.write({ e: 'fault', kind: 'client-pause', at, ms, target: mode });
        await this.admin.call('CLIENT', 'PAUSE', String(ms), mode);
        this.counts.pauses++;
        await sleep(ms);
        return;
      }
      case 'reset': {
        const slot = r.chance(0.3) ? undefined : this.proxySlot(r);
        const n = this.proxy.reset(slot);
        this.counts.proxyResets++;
        this.journal.write({ e: 'fault', kind: 'proxy-reset', at, target: this.slotName(slot), detail: `${n} connection(s)` });
        return;
      }
      case 'blackhole': {
        const slot = r.chance(0.3) ? undefined : this.proxySlot(r);
        const ms = r.int(2000, 12_000);
        const n = this.proxy.blackhole(slot);
        this.counts.blackholes++;
        this.journal.write({ e: 'fault', kind: 'proxy-blackhole', at, ms, target: this.slotName(slot), detail: `${n} connection(s)` });
        await sleep(ms);
        this.proxy.unblackhole(slot);
        return;
      }
      case 'halfopen': {
        // Long enough for a client to notice by its own timeouts (worker commands: 10 s) and reconnect;
        // runs beside the other faults; its worker is not killed meanwhile, so its recovery is measured.
        const ms = r.int(20_000, 28_000);
        const slot = this.proxySlot(r);
        if (this.halfOpenBusy || at + ms > until) return;
        const worker = this.slots[slot];
        if (worker && !worker.up) return;
        this.halfOpenBusy = true;
        if (worker) this.protectedSlots.add(slot);
        const n = this.proxy.halfOpen(slot);
        this.counts.halfOpens++;
        this.journal.write({ e: 'fault', kind: 'proxy-halfopen', at, ms, target: this.slotName(slot), inst: worker?.inst, detail: `${n} connection(s)` });
        this.track(
          sleep(ms).then(() => {
            this.proxy.resetZombies(slot);
            this.protectedSlots.delete(slot);
            this.halfOpenBusy = false;
          }),
        );
        return;
      }
      case 'memory': {
        // Redis full under noeviction (the README's setting): maxmemory below what Redis holds by half of
        // its data (at least 64 KiB), so every write that may allocate is refused until the queue frees
        // that much or the limit is raised again. Enqueues must fail cleanly; settling, renewing,
        // promoting and recovering must go on (they free memory or hold it constant).
        const ms = r.int(2000, 6000);
        const info = String(await this.admin.info('memory'));
        const used = Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
        const dataset = Number(/^used_memory_dataset:(\d+)/m.exec(info)?.[1]);
        if (!Number.isFinite(used) || !Number.isFinite(dataset)) throw new Error('INFO memory had no used_memory');
        const limit = Math.max(1, used - Math.max(Math.floor(dataset / 2), 64 * 1024));
        this.journal.write({ e: 'fault', kind: 'memory-pressure', at, ms, detail: `maxmemory ${limit} with ${used} used (${dataset} data)` });
        await this.admin.config('SET', 'maxmemory', String(limit));
        this.counts.memoryPressures++;
        try {
          await sleep(ms);
        } finally {
          await this.healMemory();
        }
        this.journal.write({ e: 'fault', kind: 'memory-restored', at: Date.now(), ms: Date.now() - at });
        return;
      }
      default:
        return;
    }
  }

  /**
   * Lifts the memory limit (Redis started without one). Retried: left in place, the limit would fail the
   * drain for a reason that is the harness's, not the queue's. A restarted Redis has no limit anyway.
   */
  async healMemory(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.admin.config('SET', 'maxmemory', '0');
        return;
      } catch (error) {
        if (attempt >= 20) throw error;
        await sleep(500);
      }
    }
  }

  /** Starts Redis again on its port and AOF; a failed start (port briefly busy) is retried. */
  async restartRedis(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.redis.restart();
        this.onRedisStart();
        return;
      } catch (error) {
        if (attempt >= 5) throw error;
        await sleep(500);
      }
    }
  }
}
