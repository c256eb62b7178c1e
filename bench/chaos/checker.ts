import type { DeadJob } from '../../libs/redis-queue/src/engine/index.js';
import { DEFAULT_ATTEMPTS, JobKind, POISON_ATTEMPTS, QUEUE, RULES } from './jobs.js';
import type { JournalEvent } from './journal.js';
import type { SnapshotViolations } from './redis-state.js';

type Ev<E extends JournalEvent['e']> = Extract<JournalEvent, { e: E }>;

/** Everything the checker reads: the journals, the final dead-letter set, and what the snapshots found. */
export interface RunHistory {
  concurrency: number;
  leaseMs: number;
  noAof: boolean;
  /** Only graceful SIGTERMs were injected: no duplicate is acceptable. */
  sigtermOnly: boolean;
  /** ms a completed job's id stays taken (the workers' jobIdRetention): a retried enqueue must not store it again. */
  idRetentionMs: number;
  /** Producer journal plus the harness's probe enqueues. */
  producer: JournalEvent[];
  /** Journal of each worker incarnation, by name (`w<slot>.<generation>`). */
  workers: Map<string, JournalEvent[]>;
  /** Faults and process exits, as the harness saw them. */
  harness: JournalEvent[];
  dead: Map<string, DeadJob>;
  /** Jobs cancelled on purpose (a cancel was called, and they ended cancelled): not lost. */
  cancelled?: Set<string>;
}

/**
 * Why a completion beyond the first of an id happened (the earlier delivery's ack never took effect):
 * - crash: its worker was SIGKILLed before the ack got through (at most `concurrency` per kill);
 * - lease-lost: its worker reported the ack refused for a lost lease, and a fault that can stall a
 *   worker past its lease (Redis kill or pause, CLIENT KILL, a blackholed or half-open connection) hit
 *   that worker shortly before;
 * - lease-lost-no-fault: the same, with no such fault: leases should not expire on a healthy worker;
 * - re-enqueue: the job was stored twice, the producer did call enqueue more than once for it (it retries
 *   a call that failed with an unknown outcome, with the same jobId, as the library advises), and the
 *   second store came after the id retention window (`jobIdRetention`) that followed the first completion;
 * - stored-twice: the job was stored twice although its id was taken all along: from a single enqueue
 *   call (the client re-sent it), or by a retried enqueue within the id retention window;
 * - shutdown: the worker was stopping and could not reach Redis to settle (it says how many finished
 *   jobs it could not acknowledge; each report explains that many);
 * - redis-data-loss: Redis without AOF lost the ack (--no-aof only);
 * - unexplained: none of the above.
 */
export type DuplicateCause =
  | 'crash'
  | 'lease-lost'
  | 'lease-lost-no-fault'
  | 're-enqueue'
  | 'stored-twice'
  | 'shutdown'
  | 'redis-data-loss'
  | 'unexplained';

export interface Completion {
  inst: string;
  /** The queue, '' for the main one (chaos). */
  q: string;
  attempt: number;
  /** When the job record this delivery came from was stored (Redis clock): two values, two stores. */
  enqueuedAt: number;
  /** Handler start and end, on the true clock (a skewed worker's offset removed). */
  startedAt: number;
  endedAt: number;
}

export interface CheckResult {
  attempted: number;
  acked: number;
  failedEnqueues: number;
  completed: number;
  completions: number;
  deadLettered: number;
  /** Acked, neither completed nor dead-lettered. */
  lost: string[];
  /** Completed but never attempted. */
  unexpected: string[];
  /** Delayed jobs whose handler started before their due time. */
  early: { id: string; inst: string; byMs: number }[];
  duplicates: number;
  duplicatesBy: Record<DuplicateCause, number>;
  duplicateExamples: { id: string; cause: DuplicateCause; completions: Completion[] }[];
  /** Most duplicates allowed for crashes: SIGKILLs x the concurrency of both queues (chaos, chaos-rules). */
  crashAllowance: number;
  /** Lease-lost deliveries whose ack was refused, as the workers logged them (the allowance for those). */
  staleSettles: number;
  /** Refused acks with no fault to explain the lost lease (`stopping`: logged during a graceful shutdown). */
  staleNoFault: { inst: string; at: number; n: number; stopping: boolean }[];
  /** Poison jobs not dead with exactly POISON_ATTEMPTS attempts, or completed. */
  poisonBad: { id: string; problem: string }[];
  /**
   * Jobs other than poison that ended dead-lettered, with no fault for every attempt they used (`why`
   * names the first attempt that nothing explains).
   */
  deadUnexpected: { id: string; kind: JobKind | 'unknown'; error: string; attemptsMade: number; why: string }[];
  /**
   * Jobs other than poison dead-lettered because every one of their attempts was lost to an injected
   * fault (as the library documents: lost deliveries count as attempts): rare, but legitimate.
   */
  deadByFaults: string[];
  /** Long jobs completed on their first delivery (proof that renewals keep a lease past its duration). */
  longFirstAttempt: number;
  longCompleted: number;
  workerCrashes: string[];
  /** Worker incarnations that ran more handlers at once than their concurrency. */
  concurrencyExceeded: { inst: string; max: number }[];
  /**
   * Half-open faults: the connections of one worker (or of the producer) went silent for good while new
   * connections worked. `recoveredAfterMs`: when it first started a job (the producer: had an enqueue
   * acknowledged) over a new connection, undefined if it never did before the network reset them.
   */
  halfOpen: { target: string; inst?: string; ms: number; recoveredAfterMs?: number }[];
  /** Lease-loss aborts seen by handlers. */
  leaseLostAborts: number;
  /** Worker event-loop lags of a third of the lease or more (counted as stalls of that worker). */
  lags: { count: number; maxMs: number };
}

export function check(h: RunHistory): CheckResult {
  // Producer side: attempts, acks, failures.
  const attempts = new Map<string, { kind: JobKind; delay: number; at: number[] }>();
  const acked = new Set<string>();
  let failedEnqueues = 0;
  for (const ev of h.producer) {
    if (ev.e === 'attempt') {
      const a = attempts.get(ev.id) ?? { kind: ev.kind, delay: ev.delay, at: [] };
      a.at.push(ev.at);
      attempts.set(ev.id, a);
    } else if (ev.e === 'ack') acked.add(ev.id);
    else if (ev.e === 'fail') failedEnqueues++;
  }

  // Harness side: how each incarnation ended, and the Redis kills.
  const exits = new Map<string, Ev<'exit'>>();
  const redisKills: number[] = [];
  let sigkills = 0;
  for (const ev of h.harness) {
    if (ev.e === 'exit') {
      exits.set(ev.inst, ev);
      if (ev.cause === 'sigkill') sigkills++;
    } else if (ev.e === 'fault' && ev.kind === 'redis-kill') redisKills.push(ev.at);
  }

  // Faults that can stall a worker past its lease: when, and which worker slot (undefined: all). Memory
  // pressure is not one: a full Redis refuses new jobs, but settling, renewing and recovering must go on
  // (they free memory or hold it constant), so it explains no lost lease, duplicate or dead letter.
  const stalls: { from: number; to: number; slot?: string }[] = [];
  for (const ev of h.harness) {
    if (ev.e !== 'fault') continue;
    const to = ev.at + (ev.ms ?? 0);
    if (ev.kind === 'redis-kill' || ev.kind === 'client-pause' || ev.kind === 'client-kill') stalls.push({ from: ev.at, to });
    else if (ev.kind.startsWith('proxy-') && ev.target !== 'producer') {
      stalls.push({ from: ev.at, to, slot: ev.target === 'all' ? undefined : ev.target?.replace('slot', '') });
    }
  }
  // An overloaded machine starving a worker process past a lease renewal (a third of the lease) stalls it
  // as surely as a network fault; the workers journal such lags themselves.
  const lags: CheckResult['lags'] = { count: 0, maxMs: 0 };
  for (const [inst, events] of h.workers) {
    const skew = (events.find((e) => e.e === 'hello') as Ev<'hello'> | undefined)?.skew ?? 0;
    const slot = inst.slice(1, inst.indexOf('.'));
    for (const ev of events) {
      if (ev.e !== 'lag' || ev.ms < h.leaseMs / 3) continue;
      stalls.push({ from: ev.at - skew - ev.ms, to: ev.at - skew, slot });
      lags.count++;
      lags.maxMs = Math.max(lags.maxMs, ev.ms);
    }
  }
  // A lease is renewed every third of its duration; look back far enough to cover a renewal that failed.
  const lookback = 3 * h.leaseMs + 2000;
  const forced = (inst: string, at: number): boolean => {
    const slot = inst.slice(1, inst.indexOf('.'));
    return stalls.some((w) => (w.slot === undefined || w.slot === slot) && w.to >= at - lookback && w.from <= at);
  };

  // Worker side: completions on the true clock, lease-loss warnings, early starts.
  const completions = new Map<string, Completion[]>();
  const stale = new Map<string, { at: number; n: number; forced: boolean; stopping: boolean; q: string }[]>();
  const paused = new Map<string, number[]>();
  // Graceful shutdowns that could not reach Redis: when, and how many finished jobs went unacknowledged.
  const unackedAtShutdown = new Map<string, { at: number; left: number }[]>();
  const early: CheckResult['early'] = [];
  let leaseLostAborts = 0;
  const concurrencyExceeded: CheckResult['concurrencyExceeded'] = [];
  for (const [inst, events] of h.workers) {
    const hello = events.find((e): e is Ev<'hello'> => e.e === 'hello');
    const skew = hello?.skew ?? 0;
    let stopping = false;
    // The record each running delivery came from (the latest start of that id and attempt).
    const storedAt = new Map<string, number>();
    // Handlers running at once, per queue: a start opens a delivery, its done, throw or abort closes it.
    const open = new Map<string, Set<string>>();
    const most = new Map<string, number>();
    for (const ev of events) {
      if (ev.e !== 'start' && ev.e !== 'done' && ev.e !== 'throw' && ev.e !== 'abort') continue;
      const q = ev.q ?? '';
      const set = open.get(q) ?? new Set<string>();
      open.set(q, set);
      if (ev.e === 'start') {
        set.add(`${ev.id}/${ev.attempt}`);
        most.set(q, Math.max(most.get(q) ?? 0, set.size));
      } else {
        set.delete(`${ev.id}/${ev.attempt}`);
      }
    }
    for (const [q, max] of most) {
      if (max > (q === '' ? h.concurrency : RULES.concurrency)) concurrencyExceeded.push({ inst: q === '' ? inst : `${inst} (${q})`, max });
    }
    for (const ev of events) {
      if (ev.e === 'done') {
        const list = completions.get(ev.id) ?? [];
        list.push({
          inst,
          q: ev.q ?? '',
          attempt: ev.attempt,
          enqueuedAt: storedAt.get(`${ev.id}/${ev.attempt}`) ?? -1,
          startedAt: ev.startedAt - skew,
          endedAt: ev.at - skew,
        });
        completions.set(ev.id, list);
      } else if (ev.e === 'start') {
        storedAt.set(`${ev.id}/${ev.attempt}`, ev.enqueuedAt);
        const planned = attempts.get(ev.id);
        if (planned && planned.delay > 0) {
          // Due on the Redis clock: stored at enqueuedAt (Redis TIME), due `delay` ms later. Redis runs on
          // this machine, so its clock is the true clock; the worker's own reading has its skew removed.
          const due = Math.max(ev.enqueuedAt + planned.delay, Math.min(...planned.at) + planned.delay);
          const startedAt = ev.at - skew;
          if (startedAt < due) early.push({ id: ev.id, inst, byMs: due - startedAt });
        }
      } else if (ev.e === 'abort' && ev.reason === 'LeaseLostError') {
        leaseLostAborts++;
      } else if (ev.e === 'log') {
        if (/^Stopping worker loops/.test(ev.msg)) stopping = true;
        const m = /^Queue "([^"]*)": (\d+) finished job\(s\) were not settled because their lease had been lost/.exec(ev.msg);
        if (m) {
          const list = stale.get(inst) ?? [];
          const at = ev.at - skew;
          // Each queue's worker reports its own: a report explains duplicates of that queue only.
          list.push({ at, n: Number(m[2]), forced: forced(inst, at), stopping, q: m[1] === QUEUE ? '' : m[1] });
          stale.set(inst, list);
        }
        const u = /could not reach Redis at shutdown .*: (\d+) finished job\(s\) were not acknowledged/.exec(ev.msg);
        if (u && Number(u[1]) > 0) {
          const list = unackedAtShutdown.get(inst) ?? [];
          list.push({ at: ev.at - skew, left: Number(u[1]) });
          unackedAtShutdown.set(inst, list);
        }
        if (/worker loop paused/.test(ev.msg)) {
          const list = paused.get(inst) ?? [];
          list.push(ev.at - skew);
          paused.set(inst, list);
        }
      }
    }
  }

  // Duplicates: every completion beyond the first of an id, explained by what became of the previous one
  // (its ack never took effect). A refused-ack report or a kill explains a bounded number of them: each
  // report its count, each SIGKILL `concurrency`. The latest completions are matched first: they can only
  // use the reports that came after them, earlier ones can use those and more.
  const dups: { id: string; prev: Completion; next: Completion; list: Completion[] }[] = [];
  for (const [id, list] of completions) {
    list.sort((a, b) => a.endedAt - b.endedAt);
    for (let i = 1; i < list.length; i++) dups.push({ id, prev: list[i - 1], next: list[i], list });
  }
  dups.sort((a, b) => b.prev.endedAt - a.prev.endedAt);
  const remaining = new Map([...stale].map(([inst, list]) => [inst, list.map((st) => ({ ...st, left: st.n }))]));
  const takeReport = (inst: string, q: string, after: number, wantForced: boolean): boolean => {
    const report = (remaining.get(inst) ?? []).find(
      (st) => st.left > 0 && st.q === q && st.forced === wantForced && st.at >= after && st.at <= after + 60_000,
    );
    if (report) report.left--;
    return report !== undefined;
  };
  // A shutdown that reported N finished jobs unacknowledged explains N duplicates of jobs it had finished.
  const takeUnacked = (inst: string, after: number): boolean => {
    const report = (unackedAtShutdown.get(inst) ?? []).find((r) => r.left > 0 && r.at >= after);
    if (report) report.left--;
    return report !== undefined;
  };
  const crashUsed = new Map<string, number>();
  const concurrencyOf = (q: string): number => (q === '' ? h.concurrency : RULES.concurrency);
  const duplicatesBy: Record<DuplicateCause, number> = {
    crash: 0,
    'lease-lost': 0,
    'lease-lost-no-fault': 0,
    're-enqueue': 0,
    'stored-twice': 0,
    shutdown: 0,
    'redis-data-loss': 0,
    unexplained: 0,
  };
  const duplicateExamples: CheckResult['duplicateExamples'] = [];
  for (const { id, prev, next, list } of dups) {
    const exit = exits.get(prev.inst);
    let cause: DuplicateCause = 'unexplained';
    if (prev.enqueuedAt !== next.enqueuedAt) {
      // Two stores of the id, not one store delivered twice. A retried enqueue may store it again only once
      // the id is free: after the retention window that followed the completion (the ack came after
      // prev.endedAt, so this errs towards allowing it), or after Redis lost data (no AOF).
      const retried = (attempts.get(id)?.at.length ?? 0) > 1;
      if (h.noAof && redisKills.some((at) => at >= prev.startedAt && at <= next.enqueuedAt)) cause = 'redis-data-loss';
      else if (retried && next.enqueuedAt >= prev.endedAt + h.idRetentionMs) cause = 're-enqueue';
      else cause = 'stored-twice';
    } else if (takeReport(prev.inst, prev.q, prev.endedAt, true)) {
      // The worker said an ack was refused for a lost lease, and a fault had just stalled it.
      cause = 'lease-lost';
    } else if (exit?.cause === 'sigkill' && exit.at >= prev.endedAt && (crashUsed.get(`${prev.inst}|${prev.q}`) ?? 0) < concurrencyOf(prev.q)) {
      // A SIGKILLed worker loses the acks of at most its concurrency of finished jobs, per queue.
      cause = 'crash';
      crashUsed.set(`${prev.inst}|${prev.q}`, (crashUsed.get(`${prev.inst}|${prev.q}`) ?? 0) + 1);
    } else if (takeReport(prev.inst, prev.q, prev.endedAt, false)) {
      cause = 'lease-lost-no-fault';
    } else if ((exit?.cause === 'sigterm' || exit?.cause === 'stop') && takeUnacked(prev.inst, prev.endedAt)) {
      cause = 'shutdown';
    } else if ((exit?.cause === 'sigterm' || exit?.cause === 'stop') && (paused.get(prev.inst) ?? []).some((at) => at >= prev.endedAt)) {
      cause = 'shutdown';
    } else if (h.noAof && redisKills.some((at) => at >= prev.endedAt && at <= next.startedAt)) {
      cause = 'redis-data-loss';
    }
    duplicatesBy[cause]++;
    const bad = cause === 'unexplained' || cause === 'lease-lost-no-fault' || cause === 'stored-twice';
    if (duplicateExamples.length < 10 || (bad && duplicateExamples.length < 30)) {
      duplicateExamples.push({ id, cause, completions: list });
    }
  }
  const duplicates = dups.length;

  const lost = [...acked].filter((id) => !completions.has(id) && !h.dead.has(id) && !h.cancelled?.has(id)).sort(byJobNumber);
  const unexpected = [...completions.keys()].filter((id) => !attempts.has(id)).sort(byJobNumber);

  const poisonBad: CheckResult['poisonBad'] = [];
  const deadUnexpected: CheckResult['deadUnexpected'] = [];
  for (const [id, a] of attempts) {
    if (a.kind !== 'poison') continue;
    if (completions.has(id)) poisonBad.push({ id, problem: 'completed, yet it always throws' });
    const d = h.dead.get(id);
    if (d && d.attemptsMade !== POISON_ATTEMPTS) {
      poisonBad.push({ id, problem: `dead with attemptsMade ${d.attemptsMade}, expected ${POISON_ATTEMPTS} (${d.error.name}: ${d.error.message})` });
    }
  }
  const deadByFaults: string[] = [];
  const deliveries = deliveriesOf(
    h.workers,
    new Set([...h.dead.keys()].filter((id) => attempts.get(id)?.kind !== 'poison')),
  );
  // Any fault at all in [from, to]: a stall of some connection or of Redis, or a SIGKILL of some worker.
  const anyFault = (from: number, to: number): boolean =>
    stalls.some((w) => w.to >= from && w.from <= to) ||
    [...exits.values()].some((x) => x.cause === 'sigkill' && x.at >= from && x.at <= to);
  /** Why the attempts of a job dead-lettered as exhausted are not all explained by faults (undefined: they are). */
  const unexplainedAttempt = (id: string, kind: JobKind, d: DeadJob): string | undefined => {
    if (d.error.name !== 'LeaseLostError' || !/attempts exhausted/.test(d.error.message)) return 'not dead for attempts used by lost deliveries';
    if (d.attemptsMade !== DEFAULT_ATTEMPTS) return `attemptsMade ${d.attemptsMade}, but the job had ${DEFAULT_ATTEMPTS} attempts`;
    const list = deliveries.get(id) ?? [];
    let prevEnd = Math.min(...(attempts.get(id)?.at ?? [0]));
    for (let k = 1; k <= d.attemptsMade; k++) {
      const ofK = list.filter((x) => x.attempt === k);
      if (ofK.length === 0) {
        // Claimed, never started: the claim's reply was lost, or its worker died before starting it.
        const nextStart = list.find((x) => x.attempt > k)?.start ?? d.failedAt.getTime();
        if (!anyFault(prevEnd - lookback, nextStart)) return `attempt ${k} never started, and no fault could have lost its claim`;
        continue;
      }
      // Earlier starts of the same attempt were handed back at a graceful shutdown (not counted).
      const x = ofK[ofK.length - 1];
      const exit = exits.get(x.inst);
      const end = x.end ?? exit?.at ?? x.start;
      const slot = x.inst.slice(1, x.inst.indexOf('.'));
      const planned = x.endKind === 'throw' && kind === 'flaky' && k === 1;
      const killed = exit?.cause === 'sigkill' && exit.at >= x.start && (x.end === undefined || exit.at <= x.end + h.leaseMs + 1000);
      const stalled = stalls.some((w) => (w.slot === undefined || w.slot === slot) && w.to >= x.start && w.from <= end + lookback);
      if (!planned && !killed && !stalled) {
        return `attempt ${k} on ${x.inst} (${x.endKind ?? 'no end'}) was neither killed nor stalled by a fault`;
      }
      prevEnd = end;
    }
    return undefined;
  };
  for (const [id, d] of h.dead) {
    const kind = attempts.get(id)?.kind ?? 'unknown';
    if (kind === 'poison') continue;
    const why = kind === 'unknown' ? 'never enqueued' : unexplainedAttempt(id, kind, d);
    if (why === undefined) deadByFaults.push(id);
    else deadUnexpected.push({ id, kind, error: `${d.error.name}: ${d.error.message}`, attemptsMade: d.attemptsMade, why });
  }

  let longCompleted = 0;
  let longFirstAttempt = 0;
  for (const [id, list] of completions) {
    if (attempts.get(id)?.kind !== 'long') continue;
    longCompleted++;
    if (list.some((c) => c.attempt === 1)) longFirstAttempt++;
  }

  // Half-open: a fresh claim (a job started) or a fresh enqueue (acked) while the old connections hung.
  const halfOpen: CheckResult['halfOpen'] = [];
  for (const ev of h.harness) {
    if (ev.e !== 'fault' || ev.kind !== 'proxy-halfopen' || !ev.ms) continue;
    const from = ev.at + 1000;
    const to = ev.at + ev.ms;
    let first: number | undefined;
    if (ev.target === 'producer') {
      first = h.producer.find((p) => p.e === 'ack' && p.at > from && p.at < to)?.at;
    } else if (ev.inst) {
      const events = h.workers.get(ev.inst) ?? [];
      const skew = (events.find((e) => e.e === 'hello') as Ev<'hello'> | undefined)?.skew ?? 0;
      first = events.map((e) => (e.e === 'start' ? e.at - skew : undefined)).find((at) => at !== undefined && at > from && at < to);
    }
    halfOpen.push({ target: ev.target ?? '?', inst: ev.inst, ms: ev.ms, recoveredAfterMs: first === undefined ? undefined : first - ev.at });
  }

  const allStale = [...stale.entries()].flatMap(([inst, list]) => list.map((s) => ({ inst, ...s })));
  const staleSettles = allStale.reduce((n, s) => n + s.n, 0);
  const staleNoFault = allStale.filter((s) => !s.forced).map((s) => ({ inst: s.inst, at: s.at, n: s.n, stopping: s.stopping }));
  return {
    attempted: attempts.size,
    acked: acked.size,
    failedEnqueues,
    completed: completions.size,
    completions: [...completions.values()].reduce((n, l) => n + l.length, 0),
    deadLettered: h.dead.size,
    lost,
    unexpected,
    early,
    duplicates,
    duplicatesBy,
    duplicateExamples,
    crashAllowance: sigkills * (h.concurrency + RULES.concurrency),
    staleSettles,
    staleNoFault,
    poisonBad,
    deadUnexpected,
    deadByFaults,
    longFirstAttempt,
    longCompleted,
    workerCrashes: [...exits.values()].filter((e) => e.cause === 'unexpected').map((e) => `${e.inst} (code ${e.code}, signal ${e.signal})`),
    leaseLostAborts,
    lags,
    halfOpen,
    concurrencyExceeded,
  };
}

interface DeliveryRecord {
  inst: string;
  attempt: number;
  /** True clock (skew removed). */
  start: number;
  end?: number;
  endKind?: 'done' | 'throw' | 'abort';
}

/** Every delivery of the given ids as the workers journaled them, sorted by start. */
function deliveriesOf(workers: Map<string, JournalEvent[]>, ids: Set<string>): Map<string, DeliveryRecord[]> {
  const out = new Map<string, DeliveryRecord[]>();
  if (ids.size === 0) return out;
  for (const [inst, events] of workers) {
    const skew = (events.find((e) => e.e === 'hello') as Ev<'hello'> | undefined)?.skew ?? 0;
    const open = new Map<string, DeliveryRecord>();
    for (const ev of events) {
      if (ev.e !== 'start' && ev.e !== 'done' && ev.e !== 'throw' && ev.e !== 'abort') continue;
      if (!ids.has(ev.id)) continue;
      const key = `${ev.id}/${ev.attempt}`;
      if (ev.e === 'start') {
        const d: DeliveryRecord = { inst, attempt: ev.attempt, start: ev.at - skew };
        open.set(key, d);
        const list = out.get(ev.id) ?? [];
        list.push(d);
        out.set(ev.id, list);
      } else {
        const d = open.get(key);
        if (d && d.end === undefined) {
          d.end = ev.at - skew;
          d.endKind = ev.e;
        }
      }
    }
  }
  for (const list of out.values()) list.sort((a, b) => a.start - b.start);
  return out;
}

function byJobNumber(a: string, b: string): number {
  return Number(a.replace(/\D/g, '')) - Number(b.replace(/\D/g, '')) || a.localeCompare(b);
}

/** Merges the violations of many snapshots (first examples kept). */
export function mergeViolations(into: SnapshotViolations, v: SnapshotViolations): void {
  for (const key of Object.keys(v) as (keyof SnapshotViolations)[]) {
    for (const id of v[key]) if (into[key].length < 50 && !into[key].includes(id)) into[key].push(id);
  }
}

export function emptyViolations(): SnapshotViolations {
  return {
    leaseless: [],
    unrecoverable: [],
    undercounted: [],
    multiPlaced: [],
    missingFromIds: [],
    staleIds: [],
    retainedPlaced: [],
    retainedFree: [],
    trackedAstray: [],
  };
}
