// The queue-wide rules, checked on the history of the rules queue (chaos-rules) and the schedule's queue
// (chaos-tick): rate limit, global and group concurrency, pause, cancel, one job per tick. Pure functions
// of the journals (no Redis, no clock), so test/chaos-rules-checker.e2e-spec.ts can feed them synthetic
// histories that break each rule. See bench/chaos/README.md for what each rule excludes and why.
import type { JournalEvent } from './journal.js';

type Ev<E extends JournalEvent['e']> = Extract<JournalEvent, { e: E }>;

export interface RulesHistory {
  /** The rules queue's name (its events carry it as `q`). */
  queue: string;
  leaseMs: number;
  rateLimit: { max: number; duration: number };
  globalConcurrency: number;
  groupConcurrency: number;
  /** The schedule's interval and name: its jobs are `<name>@<tick>`. */
  tick: { name: string; every: number };
  /** Producer journal (its `cancel` events). */
  producer: JournalEvent[];
  /** Journal of each worker incarnation, by name (`w<slot>.<generation>`). */
  workers: Map<string, JournalEvent[]>;
  /** Faults, pauses and process exits, as the harness saw them. */
  harness: JournalEvent[];
  /** Final tracked state (QueueInspector.job) of every job a cancel was called for; undefined: not found. */
  finalStates: Map<string, string | undefined>;
  /** When the harness healed everything (true clock): some tick must fire after it. */
  healedAt: number;
}

/** When a claim script ran, on Redis's clock, in µs: known within [lo, hi] (equal: known exactly). */
export interface ClaimTime {
  lo: number;
  hi: number;
}

export interface RulesResult {
  /** Handler starts of the rules queue (deliveries). */
  deliveries: number;
  /** Claims (tokens) whose time on Redis's clock is known to the microsecond, and those that are not. */
  claimsResolved: number;
  claimsUnresolved: number;
  /** The busiest window of `duration` ms on the claim clock, over the deliveries with a known claim time. */
  busiestWindow: number;
  rateExceeded: { from: number; count: number; ids: string[] }[];
  /** Deliveries the concurrency rules were checked on, and those excluded (see README). */
  concurrencyChecked: number;
  concurrencyExcluded: number;
  maxRunning: number;
  maxGroupRunning: number;
  concurrencyExceeded: { at: number; running: number; ids: string[] }[];
  groupConcurrencyExceeded: { group: string; at: number; running: number; ids: string[] }[];
  cancels: Record<string, number>;
  /** Handlers that saw JobCancelledError. */
  cancelAbortsSeen: number;
  /** Cancelled ('removed' or 'aborting') jobs whose final state is not 'cancelled' (e.g. completed). */
  cancelledCompleted: { id: string; outcome: string; state: string }[];
  /** Deliveries claimed after a cancel that said 'removed' or 'aborting' had returned. */
  startedAfterCancel: { id: string; outcome: string; cancelledAt: number; claimAt: number }[];
  /** Jobs that end cancelled after a cancel call: not lost. */
  cancelledIds: Set<string>;
  pausesChecked: number;
  startedWhilePaused: { id: string; claimAt: number; pausedAt: number; resumeAt: number }[];
  /** Distinct ticks that produced a job, ticks between the first and last that did not, ticks fired after healing. */
  scheduleTicks: number;
  scheduleMissed: number;
  scheduleAfterHeal: number;
  /** Ticks with more than one job (two stores of a tick's id, a tick fired out of order, or misnamed). */
  scheduleDuplicates: { id: string; why: string }[];
  /** Deliveries of tick jobs beyond the first (at-least-once redeliveries of one job; not a failure). */
  scheduleRedeliveries: number;
}

const US = 1_000_000;
/** Largest v <= x with v ≡ m (mod 1 s in µs). */
const floorTo = (x: number, m: number): number => Math.floor((x - m) / US) * US + m;
/** Smallest v >= x with v ≡ m (mod 1 s in µs). */
const ceilTo = (x: number, m: number): number => Math.ceil((x - m) / US) * US + m;

/** A window of time in which a worker slot (undefined: every slot) may have stalled. */
export interface Stall {
  from: number;
  to: number;
  slot?: string;
}

const slotOf = (inst: string): string => inst.slice(1, inst.indexOf('.'));
const skewOf = (events: JournalEvent[]): number => (events.find((e) => e.e === 'hello') as Ev<'hello'> | undefined)?.skew ?? 0;

/**
 * Everything that can hold up a worker's traffic with Redis, or its event loop: Redis killed or
 * paused, CLIENT KILL, the proxy's faults on that worker's slot (or all), the harness's own event loop
 * running late (it forwards every byte), and every lag the worker journaled (200 ms or more), plus each
 * lease-related warning of the worker (a lease it lost, whatever the cause), as a stall of the lookback
 * before it.
 */
export function stallWindows(h: Pick<RulesHistory, 'harness' | 'workers' | 'leaseMs'>): Stall[] {
  const stalls: Stall[] = [];
  for (const ev of h.harness) {
    if (ev.e !== 'fault') continue;
    const to = ev.at + (ev.ms ?? 0);
    if (ev.kind === 'redis-kill' || ev.kind === 'client-pause' || ev.kind === 'client-kill') stalls.push({ from: ev.at, to });
    else if (ev.kind === 'harness-lag') stalls.push({ from: ev.at - (ev.ms ?? 0), to: ev.at });
    else if (ev.kind.startsWith('proxy-') && ev.target !== 'producer') {
      stalls.push({ from: ev.at, to, slot: ev.target === 'all' ? undefined : ev.target?.replace('slot', '') });
    }
  }
  const lookback = 3 * h.leaseMs + 2000;
  for (const [inst, events] of h.workers) {
    const skew = skewOf(events);
    const slot = slotOf(inst);
    for (const ev of events) {
      if (ev.e === 'lag') stalls.push({ from: ev.at - skew - ev.ms, to: ev.at - skew, slot });
      else if (ev.e === 'log' && ev.level !== 'log' && /lease/i.test(ev.msg)) stalls.push({ from: ev.at - skew - lookback, to: ev.at - skew, slot });
    }
  }
  return stalls;
}

interface Delivery {
  inst: string;
  id: string;
  attempt: number;
  group?: string;
  token?: string;
  enqueuedAt: number;
  /** Handler start and end, true clock (skew removed); end undefined: its process exited first. */
  start: number;
  end?: number;
  endKind?: 'done' | 'throw' | 'abort';
  abortReason?: string;
}

/** Every delivery of the rules queue, from the worker journals (their `q` field). */
function rulesDeliveries(h: RulesHistory): Delivery[] {
  const out: Delivery[] = [];
  for (const [inst, events] of h.workers) {
    const skew = skewOf(events);
    const open = new Map<string, Delivery>();
    for (const ev of events) {
      if (ev.e !== 'start' && ev.e !== 'done' && ev.e !== 'throw' && ev.e !== 'abort') continue;
      if (ev.q !== h.queue) continue;
      const key = `${ev.id}/${ev.attempt}`;
      if (ev.e === 'start') {
        const d: Delivery = { inst, id: ev.id, attempt: ev.attempt, group: ev.group, token: ev.token, enqueuedAt: ev.enqueuedAt, start: ev.at - skew };
        open.set(key, d);
        out.push(d);
        continue;
      }
      const d = open.get(key);
      if (!d || d.end !== undefined) continue;
      d.end = ev.at - skew;
      d.endKind = ev.e;
      if (ev.e === 'abort') d.abortReason = ev.reason;
      open.delete(key);
    }
  }
  return out;
}

/**
 * When each claim ran on Redis's clock. A claim token is `counter-micros`: the queue's claim counter (an
 * INCR in the claim script) and the microseconds field of Redis's TIME in that script, so the claim
 * time is known modulo one second. Bounds, each sound on its own (Redis runs on this machine, its clock
 * is the workers' true clock):
 * - above: a claim ran before the first handler start of its jobs, and before every claim with a higher
 *   counter (one script at a time, the clock does not go back): the latest instant ≡ micros below both;
 * - below: after the claim with the next lower counter, and after its jobs were stored (`enqueuedAt`);
 * - a claim whose worker saw no stall (`stalls`) in the 2 s before its first start got its reply in less
 *   than a second: then it ran in the second before that start.
 * A claim whose bounds leave one instant is resolved; the others keep their bounds (rules then use a
 * claim only where every instant in its bounds breaks them).
 */
export function claimTimes(deliveries: { token?: string; inst: string; start: number; enqueuedAt: number }[], stalls: Stall[]): Map<string, ClaimTime> {
  const claims = new Map<string, { counter: number; micros: number; start: number; enqueued: number; inst: string }>();
  for (const d of deliveries) {
    if (!d.token) continue;
    const m = /^(\d+)-(\d+)$/.exec(d.token);
    if (!m) continue;
    const c = claims.get(d.token) ?? { counter: Number(m[1]), micros: Number(m[2]), start: Infinity, enqueued: -Infinity, inst: d.inst };
    c.start = Math.min(c.start, d.start);
    c.enqueued = Math.max(c.enqueued, d.enqueuedAt);
    claims.set(d.token, c);
  }
  // A counter seen with two tokens (Redis lost its last writes and the counter repeated): no order.
  const perCounter = new Map<number, number>();
  for (const c of claims.values()) perCounter.set(c.counter, (perCounter.get(c.counter) ?? 0) + 1);
  const ordered = [...claims].filter(([, c]) => perCounter.get(c.counter) === 1).sort((a, b) => a[1].counter - b[1].counter);
  const out = new Map<string, ClaimTime>();
  for (const [token, c] of claims) if (perCounter.get(c.counter)! > 1) out.set(token, { lo: -Infinity, hi: floorTo(c.start * 1000 + 999, c.micros) });
  let hiNext = Infinity;
  const his = new Array<number>(ordered.length);
  for (let i = ordered.length - 1; i >= 0; i--) {
    const c = ordered[i][1];
    his[i] = floorTo(Math.min(hiNext, c.start * 1000 + 999), c.micros);
    hiNext = his[i];
  }
  let loPrev = -Infinity;
  for (let i = 0; i < ordered.length; i++) {
    const [token, c] = ordered[i];
    const hi = his[i];
    let lo = ceilTo(Math.max(loPrev, c.enqueued * 1000), c.micros);
    const slot = slotOf(c.inst);
    const prompt = !stalls.some((w) => (w.slot === undefined || w.slot === slot) && w.to >= c.start - 2000 && w.from <= c.start);
    if (prompt && hi === floorTo(c.start * 1000 + 999, c.micros)) lo = Math.max(lo, hi);
    if (lo > hi) {
      // Inconsistent bounds (not expected): keep only the sound upper one, and do not pass this on.
      out.set(token, { lo: -Infinity, hi });
      continue;
    }
    out.set(token, { lo, hi });
    loPrev = lo;
  }
  return out;
}

/** The most values in any window [t, t + duration) and where (values differ by less than duration). */
function busiest(times: { t: number; id: string }[], duration: number, max: number): { best: number; over: RulesResult['rateExceeded'] } {
  const sorted = [...times].sort((a, b) => a.t - b.t);
  let best = 0;
  const over: RulesResult['rateExceeded'] = [];
  let j = 0;
  let lastReported = -Infinity;
  for (let i = 0; i < sorted.length; i++) {
    if (j < i) j = i;
    while (j < sorted.length && sorted[j].t < sorted[i].t + duration) j++;
    const n = j - i;
    best = Math.max(best, n);
    if (n > max && sorted[i].t >= lastReported + duration && over.length < 20) {
      over.push({ from: sorted[i].t, count: n, ids: sorted.slice(i, j).map((x) => x.id) });
      lastReported = sorted[i].t;
    }
  }
  return { best, over };
}

/** Most intervals open at once (an end at the same ms as a start closes first), and where it broke `limit`. */
function overlaps(intervals: { from: number; to: number; id: string }[], limit: number): { most: number; over: { at: number; running: number; ids: string[] }[] } {
  const points = intervals.flatMap((x) => [
    { t: x.from, d: 1, x },
    { t: x.to, d: -1, x },
  ]);
  points.sort((a, b) => a.t - b.t || a.d - b.d);
  const open = new Set<(typeof intervals)[number]>();
  let most = 0;
  const over: { at: number; running: number; ids: string[] }[] = [];
  let reportedUntil = -Infinity;
  for (const p of points) {
    if (p.d < 0) {
      open.delete(p.x);
      continue;
    }
    open.add(p.x);
    most = Math.max(most, open.size);
    if (open.size > limit && p.t > reportedUntil && over.length < 20) {
      const ids = [...open].map((x) => x.id);
      over.push({ at: p.t, running: open.size, ids });
      reportedUntil = Math.min(...[...open].map((x) => x.to));
    }
  }
  return { most, over };
}

export function checkRules(h: RulesHistory): RulesResult {
  const stalls = stallWindows(h);
  const lookback = 3 * h.leaseMs + 2000;
  const deliveries = rulesDeliveries(h);
  const times = claimTimes(deliveries, stalls);
  const known = (d: Delivery): ClaimTime | undefined => (d.token ? times.get(d.token) : undefined);
  const resolved = (d: Delivery): number | undefined => {
    const t = known(d);
    return t && t.lo === t.hi ? Math.floor(t.lo / 1000) : undefined;
  };
  const exits = new Map<string, Ev<'exit'>>();
  for (const ev of h.harness) if (ev.e === 'exit') exits.set(ev.inst, ev);

  // (a) Rate limit: every delivery counts where its claim ran (as the claim script counts it), when known.
  const rateTimes = deliveries.flatMap((d) => {
    const t = resolved(d);
    return t === undefined ? [] : [{ t, id: `${d.id}/${d.attempt}` }];
  });
  const rate = busiest(rateTimes, h.rateLimit.duration, h.rateLimit.max);

  // (b) Concurrency: the engine holds a slot from the claim to the settle; a handler runs inside that as
  // long as its lease holds. Deliveries whose lease may have been lost while they ran are excluded.
  const checked: (Delivery & { from: number; to: number })[] = [];
  let excluded = 0;
  for (const d of deliveries) {
    const exit = exits.get(d.inst);
    const to = d.end ?? (exit && exit.at >= d.start ? exit.at : undefined);
    const slot = slotOf(d.inst);
    const leaseLost = d.abortReason === 'LeaseLostError';
    const stalled = to === undefined || stalls.some((w) => (w.slot === undefined || w.slot === slot) && w.to >= d.start - lookback && w.from <= to);
    if (leaseLost || stalled) {
      excluded++;
      continue;
    }
    checked.push({ ...d, from: resolved(d) ?? d.start, to: to! });
  }
  const all = overlaps(
    checked.map((d) => ({ from: d.from, to: d.to, id: `${d.id}/${d.attempt}@${d.inst}` })),
    h.globalConcurrency,
  );
  const byGroup = new Map<string, typeof checked>();
  for (const d of checked) if (d.group !== undefined) byGroup.set(d.group, [...(byGroup.get(d.group) ?? []), d]);
  let maxGroupRunning = 0;
  const groupConcurrencyExceeded: RulesResult['groupConcurrencyExceeded'] = [];
  for (const [group, list] of byGroup) {
    const g = overlaps(
      list.map((d) => ({ from: d.from, to: d.to, id: `${d.id}/${d.attempt}@${d.inst}` })),
      h.groupConcurrency,
    );
    maxGroupRunning = Math.max(maxGroupRunning, g.most);
    for (const o of g.over) groupConcurrencyExceeded.push({ group, ...o });
  }

  // Cancels: outcome of each call, what became of the job, and no claim of it after the call returned.
  const cancels: Record<string, number> = {};
  const cancelled = new Map<string, { outcome: string; doneAt: number }>();
  const called = new Set<string>();
  for (const ev of h.producer) {
    if (ev.e !== 'cancel') continue;
    called.add(ev.id);
    const outcome = ev.outcome ?? 'failed';
    cancels[outcome] = (cancels[outcome] ?? 0) + 1;
    if ((outcome === 'removed' || outcome === 'aborting') && !cancelled.has(ev.id)) cancelled.set(ev.id, { outcome, doneAt: ev.doneAt });
  }
  const cancelledCompleted: RulesResult['cancelledCompleted'] = [];
  for (const [id, c] of cancelled) {
    const state = h.finalStates.get(id);
    if (state !== 'cancelled') cancelledCompleted.push({ id, outcome: c.outcome, state: state ?? 'not found' });
  }
  const startedAfterCancel: RulesResult['startedAfterCancel'] = [];
  for (const d of deliveries) {
    const c = cancelled.get(d.id);
    const t = known(d);
    if (!c || !t) continue;
    // Certainly claimed after the call returned: its earliest possible claim time is later.
    if (t.lo > c.doneAt * 1000 + 999) startedAfterCancel.push({ id: d.id, outcome: c.outcome, cancelledAt: c.doneAt, claimAt: Math.floor(t.lo / 1000) });
  }
  const cancelAbortsSeen = deliveries.filter((d) => d.abortReason === 'JobCancelledError').length;
  const cancelledIds = new Set([...called].filter((id) => h.finalStates.get(id) === 'cancelled'));

  // Pause: no claim between the moment the pause call returned and the moment resume was called.
  const windows: { from: number; to: number }[] = [];
  let pausedAt: number | undefined;
  for (const ev of h.harness) {
    if (ev.e !== 'fault' || ev.target !== h.queue) continue;
    if (ev.kind === 'queue-paused') pausedAt ??= ev.at;
    else if (ev.kind === 'queue-resume' && pausedAt !== undefined) {
      windows.push({ from: pausedAt, to: ev.at });
      pausedAt = undefined;
    }
  }
  const startedWhilePaused: RulesResult['startedWhilePaused'] = [];
  for (const d of deliveries) {
    const t = known(d);
    if (!t) continue;
    const w = windows.find((x) => t.lo > x.from * 1000 + 999 && t.hi < x.to * 1000);
    if (w) startedWhilePaused.push({ id: `${d.id}/${d.attempt}`, claimAt: Math.floor(t.hi / 1000), pausedAt: w.from, resumeAt: w.to });
  }

  // Schedule: each tick's job is `<name>@<tick>`; one store per tick, stored in tick order.
  const stores = new Map<string, Set<number>>();
  let tickDeliveries = 0;
  for (const events of h.workers.values()) {
    for (const ev of events) {
      if (ev.e !== 'tick') continue;
      tickDeliveries++;
      stores.set(ev.id, (stores.get(ev.id) ?? new Set()).add(ev.enqueuedAt));
    }
  }
  const scheduleDuplicates: RulesResult['scheduleDuplicates'] = [];
  const ticks: { tick: number; id: string; storedAt: number }[] = [];
  const prefix = `${h.tick.name}@`;
  for (const [id, set] of stores) {
    const tick = id.startsWith(prefix) ? Number(id.slice(prefix.length)) : NaN;
    if (!Number.isInteger(tick) || tick % h.tick.every !== 0) {
      scheduleDuplicates.push({ id, why: 'not the id of a tick of the schedule' });
      continue;
    }
    if (set.size > 1) scheduleDuplicates.push({ id, why: `stored ${set.size} times (enqueuedAt ${[...set].join(', ')})` });
    ticks.push({ tick, id, storedAt: Math.min(...set) });
  }
  ticks.sort((a, b) => a.tick - b.tick);
  for (let i = 1; i < ticks.length; i++) {
    // The compare-and-set on the schedule's next tick only moves forward: a later tick is stored later.
    if (ticks[i].storedAt < ticks[i - 1].storedAt) {
      scheduleDuplicates.push({ id: ticks[i].id, why: `stored at ${ticks[i].storedAt}, before ${ticks[i - 1].id} (stored at ${ticks[i - 1].storedAt})` });
    }
  }
  const scheduleMissed = ticks.length === 0 ? 0 : (ticks[ticks.length - 1].tick - ticks[0].tick) / h.tick.every + 1 - ticks.length;

  return {
    deliveries: deliveries.length,
    claimsResolved: [...times.values()].filter((t) => t.lo === t.hi).length,
    claimsUnresolved: [...times.values()].filter((t) => t.lo !== t.hi).length,
    busiestWindow: rate.best,
    rateExceeded: rate.over,
    concurrencyChecked: checked.length,
    concurrencyExcluded: excluded,
    maxRunning: all.most,
    maxGroupRunning,
    concurrencyExceeded: all.over,
    groupConcurrencyExceeded,
    cancels,
    cancelAbortsSeen,
    cancelledCompleted,
    startedAfterCancel,
    cancelledIds,
    pausesChecked: windows.length,
    startedWhilePaused,
    scheduleTicks: ticks.length,
    scheduleMissed,
    scheduleAfterHeal: ticks.filter((t) => t.tick > h.healedAt).length,
    scheduleDuplicates,
    scheduleRedeliveries: tickDeliveries - [...stores.values()].reduce((n, s) => n + s.size, 0),
  };
}
