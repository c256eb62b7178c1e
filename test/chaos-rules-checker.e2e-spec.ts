import { check } from '../bench/chaos/checker.js';
import type { JournalEvent } from '../bench/chaos/journal.js';
import { checkRules, claimTimes, RulesHistory } from '../bench/chaos/rules-checker.js';

/**
 * The fault harness's queue-wide rules (bench/chaos/rules-checker.ts) must be able to fail: each test
 * feeds the checker a synthetic history (no Redis, no clock) that breaks one rule and expects it
 * reported, and the same history without the break expects it clean.
 */
const T0 = 1_800_000_000_000;
const Q = 'chaos-rules';

interface Spec {
  inst?: string;
  id: string;
  attempt?: number;
  /** When the claim script ran (Redis clock, ms from T0), and its counter. */
  claimAt: number;
  counter: number;
  /** Handler start and end, ms from T0 (start defaults to claimAt + 5). */
  start?: number;
  end?: number;
  endKind?: 'done' | 'throw' | 'abort';
  reason?: string;
  group?: string;
  token?: string;
}

function history(specs: Spec[], extra: Partial<RulesHistory> = {}): RulesHistory {
  const workers = new Map<string, JournalEvent[]>();
  const journal = (inst: string): JournalEvent[] => {
    let list = workers.get(inst);
    if (!list) {
      list = [{ e: 'hello', inst, slot: Number(inst.slice(1, inst.indexOf('.'))), pid: 1, skew: 0, at: T0 - 10_000 }];
      workers.set(inst, list);
    }
    return list;
  };
  for (const s of specs) {
    const inst = s.inst ?? 'w0.1';
    const claim = T0 + s.claimAt;
    const start = T0 + (s.start ?? s.claimAt + 5);
    const attempt = s.attempt ?? 1;
    const token = s.token ?? `${s.counter}-${(claim % 1000) * 1000 + 123}`;
    journal(inst).push({ e: 'start', q: Q, id: s.id, attempt, at: start, enqueuedAt: claim - 50, token, group: s.group });
    const end = T0 + (s.end ?? (s.start ?? s.claimAt + 5) + 100);
    const kind = s.endKind ?? 'done';
    if (kind === 'done') journal(inst).push({ e: 'done', q: Q, id: s.id, attempt, at: end, startedAt: start });
    else if (kind === 'throw') journal(inst).push({ e: 'throw', q: Q, id: s.id, attempt, at: end });
    else journal(inst).push({ e: 'abort', q: Q, id: s.id, attempt, at: end, reason: s.reason ?? 'JobCancelledError' });
  }
  // Events in time order per journal, as workers write them.
  for (const list of workers.values()) list.sort((a, b) => a.at - b.at);
  return {
    queue: Q,
    leaseMs: 1500,
    rateLimit: { max: 3, duration: 500 },
    globalConcurrency: 2,
    groupConcurrency: 1,
    tick: { name: 'tick', every: 1000 },
    producer: [],
    workers,
    harness: [],
    finalStates: new Map(),
    healedAt: T0,
    ...extra,
  };
}

/** Deliveries that never overlap and are spread out: every rule holds. */
const calm: Spec[] = Array.from({ length: 6 }, (_, i) => ({ id: `r-${i}`, claimAt: i * 300, counter: i + 1, group: `g${i % 2}` }));

describe('chaos rules checker', () => {
  it('finds nothing wrong in a calm history, and knows every claim time', () => {
    const r = checkRules(history(calm));
    expect({
      rate: r.rateExceeded,
      all: r.concurrencyExceeded,
      groups: r.groupConcurrencyExceeded,
      resolved: r.claimsResolved,
      unresolved: r.claimsUnresolved,
      checked: r.concurrencyChecked,
    }).toEqual({ rate: [], all: [], groups: [], resolved: 6, unresolved: 0, checked: 6 });
  });

  it('derives the claim time from the token, not from the handler start', () => {
    const times = claimTimes([{ token: '7-250123', inst: 'w0.1', start: T0 + 400, enqueuedAt: T0 }], []);
    expect(times.get('7-250123')).toEqual({ lo: (T0 + 250) * 1000 + 123, hi: (T0 + 250) * 1000 + 123 });
  });

  it('reports more claims in a window of the rate limit than its max', () => {
    // 4 claims within 500 ms on the claim clock (the limit is 3), their handlers started much later.
    const specs: Spec[] = [0, 100, 200, 450].map((t, i) => ({ id: `r-${i}`, claimAt: t, counter: i + 1, start: t + 600, end: t + 610, inst: `w${i}.1` }));
    expect(checkRules(history(specs)).rateExceeded).toEqual([{ from: T0, count: 4, ids: ['r-0/1', 'r-1/1', 'r-2/1', 'r-3/1'] }]);
    // The same claims spread over more than a window: fine.
    const spread = specs.map((s, i) => ({ ...s, claimAt: i * 200, start: i * 200 + 600, end: i * 200 + 610 }));
    expect(checkRules(history(spread)).rateExceeded).toEqual([]);
  });

  it('counts a delivery claimed again after its lease was lost as another start', () => {
    const specs: Spec[] = [
      { id: 'r-1', claimAt: 0, counter: 1 },
      { id: 'r-2', claimAt: 10, counter: 2 },
      { id: 'r-1', claimAt: 20, counter: 3, inst: 'w1.1' },
      { id: 'r-1', claimAt: 30, counter: 4, inst: 'w2.1' },
    ];
    expect(checkRules(history(specs)).rateExceeded.map((w) => w.count)).toEqual([4]);
  });

  it('reports more handlers running at once than globalConcurrency, across processes', () => {
    const specs: Spec[] = [0, 1, 2].map((i) => ({ id: `r-${i}`, claimAt: i * 10, counter: i + 1, end: 1000, inst: `w${i}.1`, group: `g${i}` }));
    const r = checkRules(history(specs, { rateLimit: { max: 100, duration: 500 } }));
    expect({ over: r.concurrencyExceeded.map((o) => o.running), max: r.maxRunning }).toEqual({ over: [3], max: 3 });
  });

  it('reports more handlers of one group running at once than groupConcurrency', () => {
    const specs: Spec[] = [
      { id: 'r-1', claimAt: 0, counter: 1, end: 500, group: 't1' },
      { id: 'r-2', claimAt: 100, counter: 2, end: 600, group: 't1', inst: 'w1.1' },
      { id: 'r-3', claimAt: 700, counter: 3, end: 800, group: 't1' },
    ];
    const r = checkRules(history(specs));
    expect(r.groupConcurrencyExceeded.map((o) => ({ group: o.group, running: o.running }))).toEqual([{ group: 't1', running: 2 }]);
  });

  it('excludes from the concurrency rules the deliveries that may have lost their lease, and only those', () => {
    const specs: Spec[] = [0, 1, 2].map((i) => ({ id: `r-${i}`, claimAt: i * 10, counter: i + 1, end: 1000, inst: `w${i}.1` }));
    const rate = { max: 100, duration: 500 };
    // The third delivery saw its lease lost: the engine may have re-granted its slot while it ran.
    const aborted = specs.map((s, i) => (i === 2 ? { ...s, endKind: 'abort' as const, reason: 'LeaseLostError' } : s));
    const a = checkRules(history(aborted, { rateLimit: rate }));
    expect({ over: a.concurrencyExceeded, excluded: a.concurrencyExcluded }).toEqual({ over: [], excluded: 1 });
    // A blackhole of worker slot 2 while it ran: excluded too. One on slot 5 (no such worker) changes nothing.
    const hole = (target: string): JournalEvent => ({ e: 'fault', kind: 'proxy-blackhole', at: T0 + 200, ms: 3000, target });
    const b = checkRules(history(specs, { rateLimit: rate, harness: [hole('slot2')] }));
    expect({ over: b.concurrencyExceeded, excluded: b.concurrencyExcluded }).toEqual({ over: [], excluded: 1 });
    const c = checkRules(history(specs, { rateLimit: rate, harness: [hole('slot5')] }));
    expect(c.concurrencyExceeded.map((o) => o.running)).toEqual([3]);
  });

  it('reports a cancelled job that completed, or was claimed after the cancel returned', () => {
    const cancel = (id: string, outcome: string, at: number): JournalEvent => ({ e: 'cancel', id, at: T0 + at, doneAt: T0 + at + 5, outcome });
    const specs: Spec[] = [
      { id: 'r-1', claimAt: 0, counter: 1, endKind: 'abort', reason: 'JobCancelledError', end: 300 },
      { id: 'r-1', claimAt: 2000, counter: 2, inst: 'w1.1' },
      { id: 'r-2', claimAt: 2100, counter: 3 },
    ];
    const producer = [cancel('r-1', 'aborting', 200), cancel('r-2', 'removed', 1000), cancel('r-3', 'removed', 1000)];
    const finalStates = new Map<string, string | undefined>([
      ['r-1', 'completed'],
      ['r-2', 'cancelled'],
      ['r-3', 'cancelled'],
    ]);
    const r = checkRules(history(specs, { producer, finalStates }));
    expect({
      completed: r.cancelledCompleted,
      after: r.startedAfterCancel.map((s) => s.id).sort(),
      seen: r.cancelAbortsSeen,
      ids: [...r.cancelledIds].sort(),
      cancels: r.cancels,
    }).toEqual({
      completed: [{ id: 'r-1', outcome: 'aborting', state: 'completed' }],
      after: ['r-1', 'r-2'],
      seen: 1,
      ids: ['r-2', 'r-3'],
      cancels: { aborting: 1, removed: 2 },
    });
  });

  it('does not count a job cancelled on purpose as lost', () => {
    const base = {
      concurrency: 8,
      leaseMs: 1500,
      noAof: false,
      sigtermOnly: false,
      idRetentionMs: 3_600_000,
      producer: [
        { e: 'attempt', id: 'r-1', kind: 'plain', delay: 0, at: T0 },
        { e: 'ack', id: 'r-1', at: T0 + 1 },
      ] as JournalEvent[],
      workers: new Map<string, JournalEvent[]>(),
      harness: [],
      dead: new Map(),
    };
    expect(check(base).lost).toEqual(['r-1']);
    expect(check({ ...base, cancelled: new Set(['r-1']) }).lost).toEqual([]);
  });

  it('reports a claim between the pause call returning and the resume call', () => {
    const harness: JournalEvent[] = [
      { e: 'fault', kind: 'queue-paused', at: T0 + 1000, target: Q },
      { e: 'fault', kind: 'queue-resume', at: T0 + 3000, target: Q },
      { e: 'fault', kind: 'queue-resumed', at: T0 + 3010, target: Q },
    ];
    const specs: Spec[] = [
      { id: 'r-1', claimAt: 900, counter: 1, start: 1100 }, // claimed before the pause: fine
      { id: 'r-2', claimAt: 2000, counter: 2 }, // while paused
      { id: 'r-3', claimAt: 3100, counter: 3 }, // after the resume
    ];
    const r = checkRules(history(specs, { harness }));
    expect({ checked: r.pausesChecked, paused: r.startedWhilePaused.map((p) => p.id) }).toEqual({ checked: 1, paused: ['r-2/1'] });
  });

  it('uses only certain claim times: a claim whose reply a stall may have delayed is not placed in a pause', () => {
    const harness: JournalEvent[] = [
      { e: 'fault', kind: 'proxy-blackhole', at: T0 + 500, ms: 4000, target: 'slot0' },
      { e: 'fault', kind: 'queue-paused', at: T0 + 3000, target: Q },
      { e: 'fault', kind: 'queue-resume', at: T0 + 4000, target: Q },
    ];
    // Claimed at 400 ms, its reply held up by the blackhole: the handler starts at 4600 ms. The token's
    // microseconds fit 3400 ms too (inside the pause); nothing else bounds it, so it is not reported.
    const specs: Spec[] = [{ id: 'r-1', claimAt: 400, counter: 1, start: 4600, end: 4700 }];
    const r = checkRules(history(specs, { harness }));
    expect({ paused: r.startedWhilePaused, unresolved: r.claimsUnresolved }).toEqual({ paused: [], unresolved: 1 });
    // A claim with a higher counter made promptly elsewhere at 600 ms bounds it: then it is known exactly.
    const bounded = checkRules(history([...specs, { id: 'r-2', claimAt: 600, counter: 2, inst: 'w1.1' }], { harness }));
    expect({ paused: bounded.startedWhilePaused, unresolved: bounded.claimsUnresolved }).toEqual({ paused: [], unresolved: 0 });
  });

  it('reports a tick with two jobs, ticks stored out of order, and no tick after healing', () => {
    const tick = (id: string, enqueuedAt: number, inst = 'w0.1'): [string, JournalEvent] => [inst, { e: 'tick', id, attempt: 1, at: T0 + enqueuedAt + 600, enqueuedAt: T0 + enqueuedAt }];
    const run = (ticks: [string, JournalEvent][], healedAt = T0) => {
      const h = history([], { healedAt });
      for (const [inst, ev] of ticks) h.workers.set(inst, [...(h.workers.get(inst) ?? []), ev]);
      return checkRules(h);
    };
    const at = (n: number) => `tick@${T0 + n * 1000}`;
    const good = run([tick(at(1), 500), tick(at(2), 1500, 'w1.1'), tick(at(2), 1500, 'w0.1'), tick(at(5), 4500)]);
    expect({
      dup: good.scheduleDuplicates,
      ticks: good.scheduleTicks,
      missed: good.scheduleMissed,
      redeliveries: good.scheduleRedeliveries,
      afterHeal: good.scheduleAfterHeal,
    }).toEqual({ dup: [], ticks: 3, missed: 2, redeliveries: 1, afterHeal: 3 });
    // Two stores of one tick's id (two jobs for it), from two processes.
    expect(run([tick(at(1), 500), tick(at(2), 1500, 'w1.1'), tick(at(2), 1510, 'w0.1')]).scheduleDuplicates.map((d) => d.id)).toEqual([at(2)]);
    // A later tick stored before an earlier one: the schedule went back (a tick fired twice).
    expect(run([tick(at(1), 2500), tick(at(2), 1500)]).scheduleDuplicates.map((d) => d.id)).toEqual([at(2)]);
    // Not the id of a tick.
    expect(run([tick(`tick@${T0 + 1500}`, 1000)]).scheduleDuplicates.length).toBe(1);
    // None fired after healing.
    expect(run([tick(at(1), 500)], T0 + 10_000).scheduleAfterHeal).toBe(0);
  });
});
