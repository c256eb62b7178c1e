// Schedules across app instances in separate processes (test/fixtures/schedule-worker.ts): one job per
// tick with no leader, through SIGKILL and restarts, missed ticks while every instance is down, and
// schedules removed by unschedule() or by a deploy whose code no longer declares them.
import { ChildScript } from '../support/child.js';
import { redisUrl, uniquePrefix, waitFor } from '../support/helpers.js';
import { QueueApp, startQueueApp } from '../support/queue-app.js';

/** Processes start slowly on a busy machine; every test here runs for tens of seconds of ticks. */
const SLOW = 240_000;

/** One start of a tick job, as an instance printed it. */
interface Run {
  name: string;
  tick: number;
  attempt: number;
  startedAt: number;
  /** When its job was stored (Redis clock): two values for one tick would be two jobs. */
  storedAt: number;
  instance: string;
}

/** A missed-tick log line: which schedule, since which tick, and what the policy did. */
interface Missed {
  name: string;
  since: number;
  skipped: boolean;
}

/** The instances of the app, started and killed by the test; what every one of them ever printed. */
class Fleet {
  private count = 0;
  readonly running = new Map<string, ChildScript>();
  /** Instances stopped by SIGKILL: a job they had started may run again (its ack may not have been sent). */
  readonly killed = new Set<string>();
  private readonly everyChild: Array<{ label: string; child: ChildScript }> = [];

  constructor(private readonly prefix: string) {}

  /** Starts `n` instances, declaring `schedule` in their handler (or none), once they are bootstrapped. */
  async start(n: number, schedule?: object, skewsMs: number[] = []): Promise<string[]> {
    const started = Array.from({ length: n }, (_, i) => {
      const label = String.fromCharCode(97 + this.count++);
      const env: Record<string, string> = { REDIS_URL: redisUrl(), RQ_PREFIX: this.prefix, RQ_LEASE_MS: '1000', NO_COLOR: '1' };
      if (skewsMs[i]) env.CHAOS_SKEW_MS = String(skewsMs[i]);
      if (schedule) env.RQ_SCHEDULE = JSON.stringify(schedule);
      const child = ChildScript.start('test/fixtures/schedule-worker.ts', env);
      this.running.set(label, child);
      this.everyChild.push({ label, child });
      return { label, child };
    });
    await Promise.all(started.map(({ child }) => child.waitForLine(/^ready$/, 60_000)));
    return started.map(({ label }) => label);
  }

  async kill(label: string, signal: NodeJS.Signals): Promise<void> {
    const child = this.running.get(label)!;
    this.running.delete(label);
    if (signal === 'SIGKILL') this.killed.add(label);
    await child.kill(signal);
  }

  async killAll(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await Promise.all([...this.running.keys()].map((label) => this.kill(label, signal)));
  }

  runs(name?: string): Run[] {
    const runs: Run[] = [];
    for (const { label, child } of this.everyChild) {
      for (const line of child.lines) {
        const m = /^ran (.+)@(\d+) (\d+) (\d+) (\d+)$/.exec(line);
        if (m) runs.push({ name: m[1], tick: Number(m[2]), attempt: Number(m[3]), startedAt: Number(m[4]), storedAt: Number(m[5]), instance: label });
      }
    }
    return name === undefined ? runs : runs.filter((r) => r.name === name);
  }

  /** Whether the instance logged a lost lease (a stall past RQ_LEASE_MS on a loaded machine): its jobs may run again. */
  lostLease(label: string): boolean {
    const child = this.everyChild.find((c) => c.label === label)?.child;
    return !!child?.lines.some((line) => /lease (is gone|had been lost|ran out)/.test(line));
  }

  missed(): Missed[] {
    const found: Missed[] = [];
    for (const { child } of this.everyChild) {
      for (const line of child.lines) {
        const m = /schedule "([^"]+)" missed ticks since (\S+); (skipping|running)/.exec(line);
        if (m) found.push({ name: m[1], since: Date.parse(m[2]), skipped: m[3] === 'skipping' });
      }
    }
    return found;
  }

  /** Resolves once `name` has started jobs for `n` ticks later than `after`. */
  async ticksAfter(name: string, after: number, n: number): Promise<void> {
    await waitFor(() => new Set(this.runs(name).filter((r) => r.tick > after).map((r) => r.tick)).size >= n, 60_000, `${n} ticks of "${name}" after ${new Date(after).toISOString()}`);
  }

  /** Resolves once some instance started a job it had not started before: a moment between two ticks. */
  async betweenTicks(): Promise<void> {
    const seen = this.runs().length;
    await waitFor(() => this.runs().length > seen, 60_000, 'the next tick job');
  }
}

/**
 * The ticks of `name` due in [from, to], checked: exactly one job per tick (a tick's job may start again
 * only as a redelivery of that one stored job after the instance that started it was SIGKILLed or lost
 * its lease: with a higher attempt, or the same one when the lost claim held other jobs too, as two
 * schedules ticking in the same second often are, see "Leases, claims and fencing" in
 * docs/data-model.md), never before its
 * tick, on the schedule's `interval` grid, and with no tick left out unless an instance logged that it
 * was missed (a tick fired over a second late counts as missed: the policy applies). Returns the ticks.
 */
function checkTicks(fleet: Fleet, name: string, interval: number, from: number, to: number): number[] {
  const byTick = new Map<number, Run[]>();
  for (const run of fleet.runs(name)) {
    if (run.tick < from || run.tick > to) continue;
    byTick.set(run.tick, [...(byTick.get(run.tick) ?? []), run]);
  }
  const ticks = [...byTick.keys()].sort((a, b) => a - b);
  expect(ticks.length).toBeGreaterThan(0);
  for (const [tick, runs] of byTick) {
    runs.sort((a, b) => a.startedAt - b.startedAt);
    const stores = new Set(runs.map((r) => r.storedAt));
    const rerunAfter = runs.slice(0, -1).map((r) => ({ instance: r.instance, killedOrLostLease: fleet.killed.has(r.instance) || fleet.lostLease(r.instance) }));
    expect({ name, tick, stores: stores.size, rerunAfter }).toEqual({
      name,
      tick,
      stores: 1,
      rerunAfter: rerunAfter.map((r) => ({ ...r, killedOrLostLease: true })),
    });
    const attempts = runs.map((r) => r.attempt);
    expect({ name, tick, attempts }).toEqual({ name, tick, attempts: [...attempts].sort((a, b) => a - b) });
    expect({ name, tick, onGrid: tick % interval === 0 }).toEqual({ name, tick, onGrid: true });
    for (const run of runs) expect({ name, tick, early: run.startedAt < tick }).toEqual({ name, tick, early: false });
  }
  const missed = fleet.missed().filter((m) => m.name === name);
  for (let i = 1; i < ticks.length; i++) {
    if (ticks[i] - ticks[i - 1] === interval) continue;
    // A gap: the tick before it was fired late and counted as missed, which the log says.
    expect({ name, gapAfter: new Date(ticks[i - 1]).toISOString(), logged: missed.some((m) => m.since === ticks[i - 1]) }).toEqual({
      name,
      gapAfter: new Date(ticks[i - 1]).toISOString(),
      logged: true,
    });
  }
  return ticks;
}

/** "every-second: 14 ticks, 1 job each (2 redelivered after SIGKILL); started by a=5 b=4 c=5" */
function summary(fleet: Fleet, name: string, ticks: number[]): string {
  const runs = fleet.runs(name).filter((r) => ticks.includes(r.tick));
  const byInstance = new Map<string, number>();
  for (const r of runs) byInstance.set(r.instance, (byInstance.get(r.instance) ?? 0) + 1);
  const redelivered = runs.length - ticks.length;
  const jobsPerTick = new Set(ticks.map((t) => new Set(runs.filter((r) => r.tick === t).map((r) => r.storedAt)).size));
  return `${name}: ${ticks.length} ticks, jobs per tick ${[...jobsPerTick].join('/')}, ${redelivered} redelivered; started by ${[...byInstance].map(([k, v]) => `${k}=${v}`).join(' ')}`;
}

describe('schedules across 3 app instances (separate processes)', () => {
  let fleet: Fleet | undefined;
  let q: QueueApp | undefined;
  afterEach(async () => {
    await fleet?.killAll();
    await q?.close();
    fleet = undefined;
    q = undefined;
  }, SLOW);

  it('every: 1000 and a per-second cron give exactly one job per tick, through SIGKILL and restarts of instances', async () => {
    const prefix = uniquePrefix('sched3');
    fleet = new Fleet(prefix);
    const declared = { name: 'cron-second', cron: '* * * * * *' };
    q = await startQueueApp([], { prefix, consumers: false });
    // Stored first (schedule() only stores: the instances tick), then the instances start.
    const createdAt = Date.now();
    expect(await q.producer.schedule('tick', 'every-second', { every: 1000 })).toBe(true);
    await fleet.start(3, declared);
    await fleet.ticksAfter('every-second', createdAt, 4);
    await fleet.ticksAfter('cron-second', createdAt, 4);

    // SIGKILL an instance between ticks, and start another in its place.
    await fleet.betweenTicks();
    await fleet.kill('a', 'SIGKILL');
    const killedAt = Date.now();
    await fleet.start(1, declared);
    await fleet.ticksAfter('every-second', killedAt, 3);
    await fleet.ticksAfter('cron-second', killedAt, 3);

    // A graceful restart (SIGTERM: the app drains and closes) of another.
    await fleet.betweenTicks();
    await fleet.kill('b', 'SIGTERM');
    const stoppedAt = Date.now();
    await fleet.start(1, declared);
    await fleet.ticksAfter('every-second', stoppedAt, 3);
    await fleet.ticksAfter('cron-second', stoppedAt, 3);

    // Listed with their definitions and their next and last run.
    const listed = await q.inspector.schedules('tick');
    expect(listed.map((s) => ({ name: s.name, source: s.source, missed: s.missed, cron: s.cron, every: s.every }))).toEqual([
      { name: 'cron-second', source: 'decorator', missed: 'once', cron: '* * * * * *', every: undefined },
      { name: 'every-second', source: 'api', missed: 'once', cron: undefined, every: 1000 },
    ]);
    for (const s of listed) {
      // The last tick that fired is the last one run, or the one whose job waits for its tick; the next follows it.
      const lastRun = Math.max(...fleet.runs(s.name).map((r) => r.tick));
      expect(s.lastRunAt!.getTime()).toBeGreaterThanOrEqual(lastRun);
      expect(s.nextRunAt!.getTime() - s.lastRunAt!.getTime()).toBe(1000);
    }

    // Every tick up to `end` is checked once two later ticks ran: a duplicate of a checked tick would have
    // started by then (its job was due at its tick).
    const end = Date.now();
    await fleet.ticksAfter('every-second', end + 1000, 1);
    await fleet.ticksAfter('cron-second', end + 1000, 1);
    const everyTicks = checkTicks(fleet, 'every-second', 1000, createdAt, end);
    const cronTicks = checkTicks(fleet, 'cron-second', 1000, createdAt, end);
    expect(everyTicks.length).toBeGreaterThanOrEqual(10);
    expect(cronTicks.length).toBeGreaterThanOrEqual(10);
    process.stdout.write(`[schedule-instances] ${summary(fleet, 'every-second', everyTicks)}\n`);
    process.stdout.write(`[schedule-instances] ${summary(fleet, 'cron-second', cronTicks)}\n`);
  }, SLOW);

  it('instances whose clocks are minutes off (one ahead, one behind) move no tick: ticks stay on the true clock, one job each', async () => {
    const prefix = uniquePrefix('schedskew');
    fleet = new Fleet(prefix);
    q = await startQueueApp([], { prefix, consumers: false });
    // The instances start first, so that the declared schedule is stored by one of them (each upserts it
    // at bootstrap with its first tick), then another is stored through the API.
    const startedAt = Date.now();
    await fleet.start(3, { name: 'declared', every: 1000 }, [5 * 60_000, -5 * 60_000, 0]);
    expect(await q.producer.schedule('tick', 'api', { every: 1000 })).toBe(true);
    await fleet.ticksAfter('declared', startedAt, 6);
    await fleet.ticksAfter('api', startedAt, 6);
    const end = Date.now();
    await fleet.ticksAfter('declared', end + 1000, 1);
    await fleet.ticksAfter('api', end + 1000, 1);
    for (const name of ['declared', 'api']) {
      // No tick of another time: not minutes ahead (a clock ahead moving `next`), nor from before the
      // schedule existed (a clock behind storing a first tick in the past).
      const far = fleet.runs(name).filter((r) => Math.abs(r.tick - Date.now()) > 60_000);
      expect({ name, far }).toEqual({ name, far: [] });
      expect(fleet.missed().filter((m) => m.name === name && m.since < startedAt - 1000)).toEqual([]);
      const ticks = checkTicks(fleet, name, 1000, startedAt, end);
      expect(ticks.length).toBeGreaterThanOrEqual(4);
      process.stdout.write(`[schedule-instances] clocks +5 min / -5 min / true: ${summary(fleet, name, ticks)}\n`);
    }
  }, SLOW);

  it('ticks missed while every instance is down: "once" runs one job for them, "skip" none; both go on from the next tick', async () => {
    const prefix = uniquePrefix('sched-missed');
    fleet = new Fleet(prefix);
    q = await startQueueApp([], { prefix, consumers: false });
    const createdAt = Date.now();
    await q.producer.schedule('tick', 'once', { every: 1000 }); // missed: 'once' is the default
    await q.producer.schedule('tick', 'skip', { every: 1000, missed: 'skip' });
    await fleet.start(3);
    await fleet.ticksAfter('once', createdAt, 3);
    await fleet.ticksAfter('skip', createdAt, 3);

    await fleet.killAll('SIGKILL');
    const before = new Map((await q.inspector.schedules('tick')).map((s) => [s.name, s]));
    const lastSeen = new Map(['once', 'skip'].map((name) => [name, Math.max(...fleet!.runs(name).map((r) => r.tick))]));
    // Three whole ticks pass with nothing running.
    const next = Math.max(before.get('once')!.nextRunAt!.getTime(), before.get('skip')!.nextRunAt!.getTime());
    await waitFor(() => Date.now() > next + 3000, 10_000, 'three ticks to pass');
    const restartedAt = Date.now();
    await fleet.start(3);
    await fleet.ticksAfter('once', restartedAt, 3);
    await fleet.ticksAfter('skip', restartedAt, 3);

    for (const name of ['once', 'skip']) {
      const s = before.get(name)!;
      const last = s.lastRunAt!.getTime();
      expect(s.nextRunAt!.getTime()).toBe(last + 1000);
      const during = [...new Set(fleet.runs(name).filter((r) => r.tick > lastSeen.get(name)! && r.tick < restartedAt).map((r) => r.tick))].sort((a, b) => a - b);
      // The job enqueued ahead for the last tick fired before the outage (it waits in the delayed set,
      // due at its tick) is already stored, so it runs when an instance is back, late, under either policy.
      const enqueuedAhead = last > lastSeen.get(name)! ? [last] : [];
      // The ticks from `next` on fell while nothing ran: "once" runs one job for them all (the first
      // missed tick's id), "skip" runs none.
      expect({ name, during }).toEqual({ name, during: name === 'once' ? [...enqueuedAhead, s.nextRunAt!.getTime()] : enqueuedAhead });
      const missed = fleet.missed().filter((m) => m.name === name && m.since === s.nextRunAt!.getTime());
      expect(missed.length).toBeGreaterThan(0);
      expect(missed.every((m) => m.skipped === (name === 'skip'))).toBe(true);
    }
    const onceJob = fleet.runs('once').find((r) => r.tick === before.get('once')!.nextRunAt!.getTime())!;
    expect(onceJob.startedAt).toBeGreaterThanOrEqual(restartedAt);
    // Three instances came back at once and each saw the missed ticks: still one job for them.
    expect(fleet.runs('once').filter((r) => r.tick === onceJob.tick)).toHaveLength(1);

    // From the restart on, one job per tick again.
    const end = Date.now();
    await fleet.ticksAfter('once', end + 1000, 1);
    await fleet.ticksAfter('skip', end + 1000, 1);
    const resumed = (name: string) => Math.min(...fleet!.runs(name).filter((r) => r.tick > restartedAt).map((r) => r.tick));
    checkTicks(fleet, 'once', 1000, resumed('once'), end);
    checkTicks(fleet, 'skip', 1000, resumed('skip'), end);
  }, SLOW);

  it('a removed schedule stops firing and leaves no pending job: unschedule(), and a decorator schedule the next deploy no longer declares', async () => {
    const prefix = uniquePrefix('sched-removed');
    fleet = new Fleet(prefix);
    q = await startQueueApp([], { prefix, consumers: false });
    const producer = q.producer;
    const inspector = q.inspector;
    const pendingOf = async (name: string) => (await inspector.jobs('tick', 'delayed')).jobs.filter((j) => j.id.startsWith(`${name}@`));
    const createdAt = Date.now();
    await producer.schedule('tick', 'removed', { every: 1000 });
    await producer.schedule('tick', 'canary', { every: 1000 }); // keeps ticking: the instances are alive
    await fleet.start(3, { name: 'declared', every: 1000 });
    await fleet.ticksAfter('removed', createdAt, 2);
    await fleet.ticksAfter('declared', createdAt, 2);

    // unschedule(): gone from Redis with the job it had enqueued ahead for its next tick.
    expect(await producer.unschedule('tick', 'removed')).toBe(true);
    const removedAt = Date.now();
    expect(await pendingOf('removed')).toEqual([]);
    expect((await inspector.schedules('tick')).map((s) => s.name)).toEqual(['canary', 'declared']);
    expect(await producer.unschedule('tick', 'removed')).toBe(false);
    await fleet.ticksAfter('canary', removedAt, 3);
    expect(fleet.runs('removed').filter((r) => r.tick > removedAt)).toEqual([]);

    // The next deploy's code no longer declares "declared": its first instance removes it at bootstrap,
    // and the old instances still running stop ticking it at once.
    await fleet.start(1);
    await waitFor(async () => !(await inspector.schedules('tick')).some((s) => s.name === 'declared'), 30_000, 'the deploy to drop "declared"');
    const prunedAt = Date.now();
    expect(await pendingOf('declared')).toEqual([]);
    await fleet.ticksAfter('canary', prunedAt, 2);
    expect(fleet.runs('declared').filter((r) => r.tick > prunedAt)).toEqual([]);
    // The rolling deploy goes on: old instances stop, new ones start. Nothing brings it back.
    for (const old of ['a', 'b', 'c']) {
      await fleet.kill(old, 'SIGTERM');
      if (old !== 'c') await fleet.start(1);
    }
    const deployedAt = Date.now();
    await fleet.ticksAfter('canary', deployedAt, 3);
    expect(fleet.runs('declared').filter((r) => r.tick > prunedAt)).toEqual([]);
    expect(fleet.runs('removed').filter((r) => r.tick > removedAt)).toEqual([]);
    expect((await inspector.schedules('tick')).map((s) => s.name)).toEqual(['canary']);
    expect(await pendingOf('declared')).toEqual([]);
    checkTicks(fleet, 'canary', 1000, createdAt, deployedAt);
  }, SLOW);
});
