import type { CheckResult, RunHistory } from './checker.js';
import type { JournalEvent } from './journal.js';
import { RULES, RULES_QUEUE, TICK_SCHEDULE } from './jobs.js';
import type { FaultCounts } from './nemesis.js';
import type { RulesResult } from './rules-checker.js';
import { ChaosOptions, rerunFlags } from './options.js';

export interface Verdict {
  ok: boolean;
  failures: string[];
}

interface Report {
  options: ChaosOptions;
  result: CheckResult;
  rules: RulesResult;
  verdict: Verdict;
  counts: FaultCounts;
  skewMs: number;
  skewSlot: number;
  dir: string;
  snapshots: number;
  history: RunHistory;
}

/** How soon after each blackhole healed the affected worker slot started a job again. */
export function blackholeRecovery(history: RunHistory): { slot: string; at: number; ms: number; after?: number }[] {
  const starts = new Map<string, number[]>(); // slot -> true-clock start times
  for (const [inst, events] of history.workers) {
    const slot = inst.slice(1, inst.indexOf('.'));
    const skew = (events.find((e) => e.e === 'hello') as Extract<JournalEvent, { e: 'hello' }> | undefined)?.skew ?? 0;
    const list = starts.get(slot) ?? [];
    for (const ev of events) if (ev.e === 'start') list.push(ev.at - skew);
    starts.set(slot, list);
  }
  for (const list of starts.values()) list.sort((a, b) => a - b);
  const out: ReturnType<typeof blackholeRecovery> = [];
  for (const ev of history.harness) {
    if (ev.e !== 'fault' || ev.kind !== 'proxy-blackhole' || !ev.ms || ev.target === 'producer') continue;
    const slots = ev.target === 'all' ? [...starts.keys()] : [ev.target!.replace('slot', '')];
    for (const slot of slots) {
      const end = ev.at + ev.ms;
      const after = (starts.get(slot) ?? []).find((t) => t >= end);
      out.push({ slot, at: ev.at, ms: ev.ms, after: after && after - end });
    }
  }
  return out;
}

export function printSummary(say: (line: string) => void, r: Report): void {
  const { result: x, counts: c, options: o } = r;
  say('');
  say('== faults injected');
  say(`  worker SIGKILL ${c.workerKills}, worker SIGTERM ${c.workerTerms}, Redis kill -9 + restart ${c.redisRestarts}`);
  say(
    `  CLIENT KILL ${c.clientKills} connection(s), CLIENT PAUSE ${c.pauses}, proxy resets ${c.proxyResets}, blackholes ${c.blackholes}, ` +
      `half-open ${c.halfOpens}, memory pressure (maxmemory below the data) ${c.memoryPressures}`,
  );
  say(`  clock skew: ${r.skewSlot >= 0 ? `worker slot ${r.skewSlot} at ${r.skewMs > 0 ? '+' : ''}${r.skewMs} ms` : 'none'}`);
  const blackholes = blackholeRecovery(r.history);
  for (const f of x.halfOpen) {
    say(
      `  half-open ${f.inst ?? f.target} for ${(f.ms / 1000).toFixed(0)} s: ` +
        (f.recoveredAfterMs === undefined ? 'never worked again until the network reset it' : `worked again over a new connection after ${(f.recoveredAfterMs / 1000).toFixed(1)} s`),
    );
  }
  if (blackholes.length > 0) {
    const after = blackholes.map((e) => e.after).filter((a): a is number => a !== undefined);
    say(`  blackholes: first job on the slot after healing within ${after.length ? Math.max(...after) : '-'} ms at worst (${after.length} of ${blackholes.length} measured)`);
  }
  say('== jobs');
  say(`  attempted ${x.attempted}, acked ${x.acked}, enqueue calls failed ${x.failedEnqueues} (retried with the same jobId)`);
  say(
    `  completed ${x.completed} (${x.completions} completions), dead-lettered ${x.deadLettered}` +
      (x.deadByFaults.length > 0 ? ` (${x.deadByFaults.length} not poison, every attempt lost to a fault: ${x.deadByFaults.slice(0, 5).join(', ')})` : ''),
  );
  say(`  long jobs done on their first delivery (lease renewed past ${o.leaseMs} ms): ${x.longFirstAttempt} of ${x.longCompleted}`);
  const noFault = x.staleNoFault.reduce((n, st) => n + st.n, 0);
  const atShutdown = x.staleNoFault.filter((st) => st.stopping).reduce((n, st) => n + st.n, 0);
  say(
    `  lease-loss aborts seen by handlers ${x.leaseLostAborts}; finished deliveries refused for a lost lease ${x.staleSettles}` +
      (noFault > 0 ? ` (${noFault} with no fault to explain it, ${atShutdown} of them during a graceful shutdown)` : ''),
  );
  const by = Object.entries(x.duplicatesBy)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  say(`  duplicates ${x.duplicates}${by ? ` (${by})` : ''}; allowance for crashes ${x.crashAllowance} (SIGKILLs x the concurrency of both queues)`);
  if (x.lags.count > 0) {
    say(`  worker event loops held up by the machine's load for ${Math.round(o.leaseMs / 3)} ms or more: ${x.lags.count} time(s), at worst ${x.lags.maxMs} ms (counted as stalls)`);
  }
  say(`  Redis invariants checked in ${r.snapshots} snapshots during the faults and once at the end`);
  const q = r.rules;
  say(`== queue-wide rules (${RULES_QUEUE}, ${TICK_SCHEDULE.name} every ${TICK_SCHEDULE.every} ms)`);
  say(
    `  ${q.deliveries} deliveries; claim time on Redis's clock known for ${q.claimsResolved} of ${q.claimsResolved + q.claimsUnresolved} claims; ` +
      `busiest ${RULES.rateLimit.duration} ms window ${q.busiestWindow} (limit ${RULES.rateLimit.max})`,
  );
  say(
    `  running at once at most ${q.maxRunning} (globalConcurrency ${RULES.globalConcurrency}), per group ${q.maxGroupRunning} (groupConcurrency ${RULES.groupConcurrency}), ` +
      `over ${q.concurrencyChecked} deliveries (${q.concurrencyExcluded} excluded: their lease may have been lost)`,
  );
  say(
    `  cancels ${Object.entries(q.cancels).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}; handlers that saw JobCancelledError ${q.cancelAbortsSeen}; ` +
      `queue pauses checked ${q.pausesChecked} (QueueAdmin ${c.queuePauses})`,
  );
  say(`  schedule: ${q.scheduleTicks} ticks fired, ${q.scheduleMissed} missed between the first and the last, ${q.scheduleAfterHeal} after healing, ${q.scheduleRedeliveries} redeliveries`);
  say('== invariants');
  const line = (ok: boolean, text: string) => say(`  ${ok ? 'PASS' : 'FAIL'} ${text}`);
  line(x.lost.length === 0, `lost = ${x.lost.length} (acked, neither completed nor dead-lettered)`);
  line(x.unexpected.length === 0, `unexpected = ${x.unexpected.length} (completed, never enqueued)`);
  line(x.early.length === 0, `early = ${x.early.length} (delayed jobs started before due, skew removed)`);
  const unexplained = x.duplicatesBy.unexplained + x.duplicatesBy['lease-lost-no-fault'] + x.duplicatesBy['stored-twice'];
  line(unexplained === 0 && x.duplicatesBy.crash <= x.crashAllowance, `duplicates explained (${unexplained} unexplained)`);
  line(x.poisonBad.length === 0, `always-failing jobs dead with every attempt used (${x.poisonBad.length} wrong)`);
  line(q.rateExceeded.length === 0, `rate limit (${q.rateExceeded.length} windows over ${RULES.rateLimit.max} claims in ${RULES.rateLimit.duration} ms)`);
  line(q.concurrencyExceeded.length + q.groupConcurrencyExceeded.length === 0, `global and group concurrency (${q.concurrencyExceeded.length} + ${q.groupConcurrencyExceeded.length} excesses)`);
  line(q.cancelledCompleted.length + q.startedAfterCancel.length === 0, `cancel (${q.cancelledCompleted.length} not ended cancelled, ${q.startedAfterCancel.length} claimed after the cancel)`);
  line(q.startedWhilePaused.length === 0, `pause (${q.startedWhilePaused.length} claims while paused)`);
  line(q.scheduleDuplicates.length === 0 && q.scheduleAfterHeal > 0, `one job per tick (${q.scheduleDuplicates.length} ticks with more; ${q.scheduleAfterHeal} fired after healing)`);
  for (const f of r.verdict.failures) say(`  FAIL ${f}`);
  const bad = x.duplicateExamples.filter((d) => d.cause === 'unexplained' || d.cause === 'lease-lost-no-fault' || d.cause === 'stored-twice');
  if (bad.length > 0) {
    say('  unexplained duplicates (completions: instance/attempt/start..end):');
    for (const d of bad.slice(0, 5)) {
      say(`    ${d.id} (${d.cause}): ${d.completions.map((c) => `${c.inst}/${c.attempt}/${c.startedAt}..${c.endedAt}`).join('  ')}`);
    }
  }
  say(`== ${r.verdict.ok ? 'OK' : 'FAILED'}: journals in ${r.dir}`);
  say(`   re-run: npm run chaos -- ${rerunFlags(o).join(' ')}`);
}
