// `npm run chaos [-- --quick] [--seed=N] [--faults=all|sigterm|...] [--no-aof]`: the fault harness.
// Starts its own redis-server (AOF everysec, noeviction) on a free loopback port, a fault proxy, worker
// processes (the Nest module, as users run it) and a producer process; injects seeded faults for a
// bounded time; heals, drains, probes every worker; then checks the history as Jepsen's queue checker
// does (lost, unexpected, duplicates with their causes, early delayed jobs, Redis invariants). Prints a
// summary and, as its last line, one JSON object; exits 1 when an invariant fails. See bench/chaos/README.md.
import { createHash } from 'crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { join, relative, resolve } from 'path';
import { fileURLToPath } from 'url';
import { Redis } from 'ioredis';
import {
  closeClient,
  createClient,
  DeadJob,
  JobProducer,
  QueueCounts,
  QueueInspector,
  withScripts,
} from '../../libs/redis-queue/src/engine/index.js';
import { RedisServer } from '../../libs/redis-queue/src/testing/index.js';
import { check, CheckResult, emptyViolations, mergeViolations } from './checker.js';
import { killAllChildren, ProducerProcess, WorkerSlot } from './cluster.js';
import { PREFIX, QUEUE, RULES, RULES_QUEUE, TICK_QUEUE, TICK_SCHEDULE } from './jobs.js';
import { idsNotInAof, placeRedisDirOnTmpfs, settleAof } from './aof.js';
import { Journal, JournalEvent, readJournal, workerJournals } from './journal.js';
import { Nemesis } from './nemesis.js';
import { ChaosOptions, parseOptions } from './options.js';
import { forgetRedis, pruneRuns, recordRedis, sweepOrphans } from './orphans.js';
import { FaultProxy } from './proxy.js';
import { Random } from './random.js';
import { countViolations, leftovers, snapshot, SnapshotViolations, violations } from './redis-state.js';
import { printSummary, Verdict } from './report.js';
import { checkRules, RulesResult } from './rules-checker.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const say = (line: string): void => console.log(line);
const silent = { log: () => undefined, warn: () => undefined, error: () => undefined };

let options: ChaosOptions;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}

const startedAt = Date.now();
const stamp = new Date(startedAt).toISOString().replace(/[:.]/g, '-').slice(0, 19);
const dir = resolve(options.dir ?? join('.chaos', `${stamp}-seed${options.seed}`));
const redisDir = join(dir, 'redis');
mkdirSync(dir, { recursive: true });
/** Where Redis's directory really is when it is on tmpfs (see aof.ts). */
let aofOnTmpfs: string | undefined;
const journal = new Journal(join(dir, 'harness.jsonl'));

let redis: RedisServer | undefined;
let proxy: FaultProxy | undefined;
let interrupted = false;
/** libraryFingerprint() when the run started. */
let library: string | undefined;

/**
 * Ctrl-C, a kill from CI or a test timeout: nothing this run started may outlive it. Every child gets
 * SIGKILL at once (redis-server included, by the testing helper's exit hook); a second signal while
 * that happens changes nothing (the default action would exit without those hooks).
 */
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nchaos: ${signal}: stopping every process this run started`);
    killAllChildren();
    void (redis?.kill('SIGKILL') ?? Promise.resolve()).finally(() => {
      forgetRedis(redisDir);
      settleAof(redisDir, true);
      process.exit(130);
    });
  });
}
process.once('exit', () => {
  killAllChildren();
  settleAof(redisDir, true); // a run that ended any other way than the checked one: keep its AOF
});

const phase = (name: string): void => say(`[${((Date.now() - startedAt) / 1000).toFixed(1).padStart(6)}s] ${name}`);

async function main(): Promise<number> {
  const mode = options.quick ? 'quick' : 'default';
  say(
    `chaos: ${mode} run, seed ${options.seed}, faults ${[...options.faults].join(',') || 'none'}, AOF ${options.aof ? 'on' : 'OFF'}; ` +
      `${options.workers} workers x concurrency ${options.concurrency}, lease ${options.leaseMs} ms, ${options.rate} jobs/s for ${options.duration} s`,
  );
  say(`chaos: journals in ${relative(process.cwd(), dir) || dir}`);

  pruneRuns('.chaos', 10);
  const orphans = sweepOrphans();
  if (orphans > 0) say(`chaos: stopped ${orphans} redis-server(s) left running by an earlier run that was killed`);
  aofOnTmpfs = options.aof && !options.aofOnDisk ? placeRedisDirOnTmpfs(redisDir) : undefined;
  if (!aofOnTmpfs) mkdirSync(redisDir, { recursive: true });
  redis = await RedisServer.start({
    appendonly: options.aof,
    dir: redisDir,
    args: ['--maxmemory-policy', 'noeviction', '--appendfsync', 'everysec'],
  });
  const server = redis;
  recordRedis(redisDir, server.pid, server.port);
  const admin = new Redis(redis.port, '127.0.0.1', {
    connectionName: 'chaos-harness',
    maxRetriesPerRequest: 2,
    retryStrategy: () => 200,
  });
  admin.on('error', () => undefined);
  // The library's Lua scripts are read on first use: read them now, so that the probes at the end run
  // the scripts this run started with (see libraryFingerprint for edits during a run).
  withScripts(admin);
  library = libraryFingerprint();
  const [, aofSetting] = (await admin.config('GET', 'appendonly')) as string[];
  const [, policy] = (await admin.config('GET', 'maxmemory-policy')) as string[];
  const aofWhere = options.aof ? (aofOnTmpfs ? `, AOF on tmpfs ${aofOnTmpfs}` : ', AOF on disk') : '';
  phase(`redis-server on 127.0.0.1:${redis.port} (appendonly ${aofSetting}, appendfsync everysec, maxmemory-policy ${policy}${aofWhere})`);

  // One proxy port per worker slot, and one more for the producer.
  proxy = await FaultProxy.start(redis.port, options.workers + 1);
  const skewRandom = new Random(options.seed, 4);
  const skewSlot = options.faults.has('skew') ? skewRandom.int(0, options.workers - 1) : -1;
  const skewMs = skewSlot < 0 ? 0 : (skewRandom.chance(0.5) ? 1 : -1) * skewRandom.int(60_000, 600_000);
  const slots = Array.from(
    { length: options.workers },
    (_, slot) =>
      new WorkerSlot(
        slot,
        {
          dir,
          concurrency: options.concurrency,
          leaseMs: options.leaseMs,
          shutdownMs: options.shutdownMs,
          idRetentionMs: options.idRetentionMs,
          url: (s) => proxy!.url(s),
          skew: (s) => (s === skewSlot ? skewMs : 0),
        },
        journal,
      ),
  );
  // Workers and producer boot side by side (the first jobs wait in the queue for the workers).
  const [producer] = await Promise.all([
    ProducerProcess.start(
      {
        url: proxy.url(options.workers),
        journal: join(dir, 'producer.jsonl'),
        seed: options.seed,
        rate: options.rate,
        rulesRate: options.rulesRate,
        leaseMs: options.leaseMs,
      },
      join(dir, 'producer.stderr'),
    ),
    ...slots.map((s) => s.start()),
  ]);
  phase(
    `${options.workers} workers and the producer up behind the fault proxy` +
      (skewSlot >= 0 ? `; worker slot ${skewSlot} runs with its clock ${skewMs > 0 ? '+' : ''}${(skewMs / 60_000).toFixed(1)} min off` : ''),
  );
  phase('injecting faults');

  // Fault phase, with a snapshot of the queue's keys every few seconds checked against the data model.
  const nemesis = new Nemesis(options, slots, redis, proxy, admin, journal, say, () => recordRedis(redisDir, server.pid, server.port));
  const until = Date.now() + options.duration * 1000;
  const seen: SnapshotViolations = emptyViolations();
  let snapshots = 0;
  // The harness forwards every byte between the workers and Redis (the proxy): when its own event loop
  // runs late, every worker's traffic waits. Journaled as a fault (the rules checker counts it as a stall).
  let harnessTickDue = performance.now() + 100;
  const harnessLag = setInterval(() => {
    const now = performance.now();
    const late = now - harnessTickDue;
    if (late >= 200) journal.write({ e: 'fault', kind: 'harness-lag', at: Date.now(), ms: Math.round(late) });
    harnessTickDue = now + 100;
  }, 100);
  const snapshotLoop = (async () => {
    while (Date.now() < until) {
      await sleep(4000);
      snapshots++;
      for (const queue of SNAPSHOT_QUEUES) {
        try {
          const snap = await withTimeout(snapshot(admin, queue), 8000);
          const v = named(queue, violations(snap));
          if (countViolations(v) > 0) {
            const file = join(dir, `snapshot-${snapshots}-${queue}.json`);
              const plain = {
            ...snap,
            active: Object.fromEntries(snap.active),
            batches: Object.fromEntries(snap.batches),
            retained: Object.fromEntries(snap.retained),
          };
            writeFileSync(file, JSON.stringify({ violations: v, snapshot: plain }, null, 1));
            say(`  ! Redis invariant broken in snapshot ${snapshots} of ${queue} (${relative(process.cwd(), file)}): ${JSON.stringify(v).slice(0, 300)}`);
          }
          mergeViolations(seen, v);
        } catch {
          // Redis down or paused: the next snapshot will do
        }
      }
    }
  })();
  const progress = setInterval(() => {
    const c = nemesis.counts;
    phase(
      `faults so far: ${c.workerKills} SIGKILL, ${c.workerTerms} SIGTERM, ${c.redisRestarts} Redis restarts, ${c.clientKills} CLIENT KILLed, ` +
        `${c.pauses} pauses, ${c.proxyResets} resets, ${c.blackholes} blackholes, ${c.halfOpens} half-open, ${c.memoryPressures} memory pressure; ` +
        `workers up: ${slots.filter((s) => s.up).length}`,
    );
  }, options.quick ? 20_000 : 60_000);
  await Promise.all([nemesis.run(until), snapshotLoop]);
  clearInterval(progress);
  clearInterval(harnessLag);

  // Heal: network and Redis fine, every worker running, the producer finished.
  phase('healing: network restored, Redis up with no memory limit, every worker restarted; stopping the producer');
  const healedAt = Date.now();
  journal.write({ e: 'fault', kind: 'heal', at: healedAt });
  proxy.heal();
  if (!redis.running) await nemesis.restartRedis();
  await nemesis.healMemory();
  if (options.faults.has('qpause')) await nemesis.resumeRulesQueue();
  await nemesis.settle();
  await Promise.all(slots.map((s) => s.restart()));
  const producerExit = await producer.stop(30_000);
  if (producerExit.code !== 0) say(`  ! producer exited with code ${producerExit.code}, signal ${producerExit.signal}`);

  const inspector = new QueueInspector(admin, PREFIX);
  // The backlog left by the faults drains at whatever speed this (possibly busy) machine allows: wait
  // while it shrinks; a queue that stops shrinking for DRAIN_STALL_MS holds jobs nobody can take.
  const drained = await drain(inspector, DRAIN_STALL_MS, options.quick ? 150_000 : 300_000, [QUEUE, RULES_QUEUE]);
  phase(
    drained.ok
      ? `drained in ${(drained.ms / 1000).toFixed(1)} s`
      : `NOT drained after ${(drained.ms / 1000).toFixed(0)} s (${drained.why}): ${JSON.stringify(drained.counts)}`,
  );

  // Probes: every worker must claim again after all those faults (a hung connection would not).
  const probe = await runProbes(redis.url, inspector, slots, options);
  phase(probe.stuck.length === 0 ? `probes: all ${probe.insts.length} workers claimed and ran jobs` : `probes: STUCK workers: ${probe.stuck.join(', ')}`);

  phase('stopping workers (SIGTERM)');
  await Promise.all(slots.map((s) => s.stop(options.shutdownMs + 10_000)));

  // Final state: nothing in flight, nothing left, dead letters as planned.
  const finalSnapshot = await snapshot(admin);
  const finalViolations = violations(finalSnapshot);
  mergeViolations(seen, finalViolations);
  const rulesSnapshot = await snapshot(admin, RULES_QUEUE);
  mergeViolations(seen, named(RULES_QUEUE, violations(rulesSnapshot)));
  // The schedule's queue always holds the job of its next tick: its invariants, not its leftovers.
  mergeViolations(seen, named(TICK_QUEUE, violations(await snapshot(admin, TICK_QUEUE))));
  const leftoverIds = [...leftovers(finalSnapshot), ...leftovers(rulesSnapshot)];
  const leftover = leftoverIds.length;
  const dead = new Map<string, DeadJob>();
  for (const queue of [QUEUE, RULES_QUEUE]) for (const job of await inspector.deadJobs(queue, { limit: 10_000_000 })) dead.set(job.id, job);
  // What became of every job the producer tried to cancel (tracked: findable by id for 24 hours).
  const producerEvents = readJournal(join(dir, 'producer.jsonl'));
  const finalStates = new Map<string, string | undefined>();
  for (const ev of producerEvents) {
    if (ev.e === 'cancel' && !finalStates.has(ev.id)) finalStates.set(ev.id, (await inspector.job(RULES_QUEUE, ev.id))?.state);
  }
  await closeClient(admin);

  const history = {
    concurrency: options.concurrency,
    leaseMs: options.leaseMs,
    noAof: !options.aof,
    sigtermOnly: [...options.faults].every((f) => f === 'sigterm'),
    idRetentionMs: options.idRetentionMs,
    producer: [...producerEvents, ...readJournal(join(dir, 'harness.jsonl')).filter(isProducerEvent)],
    workers: new Map([...workerJournals(dir)].map(([inst, path]) => [inst, readJournal(path)])),
    harness: readJournal(join(dir, 'harness.jsonl')),
    dead,
    cancelled: new Set<string>(),
  };
  const rules = checkRules({
    queue: RULES_QUEUE,
    leaseMs: options.leaseMs,
    rateLimit: RULES.rateLimit,
    globalConcurrency: RULES.globalConcurrency,
    groupConcurrency: RULES.groupConcurrency,
    tick: TICK_SCHEDULE,
    producer: history.producer,
    workers: history.workers,
    harness: history.harness,
    finalStates,
    healedAt,
  });
  history.cancelled = rules.cancelledIds;
  const result = check(history);
  const libraryChanged = libraryFingerprint() !== library;
  if (libraryChanged) say('  ! libs/redis-queue/src changed during the run: processes started before and after the edit ran different code');
  const verdict = judge(result, rules, {
    libraryChanged,
    violations: seen,
    leftover,
    leftoverIds: leftoverIds.slice(0, 20),
    stuck: probe.stuck,
    drained: drained.ok,
    sigtermOnly: history.sigtermOnly,
  });
  const counts = nemesis.counts;
  // With appendfsync everysec, Redis may reply before writing the AOF while a slow fsync is in progress;
  // a kill -9 then can lose acknowledged writes (Redis's limit, not the queue's). Say when it happened.
  const redisLog = join(dir, 'redis', 'redis.log');
  const aofDelays = existsSync(redisLog) ? (readFileSync(redisLog, 'utf8').match(/fsync is taking too long/g) ?? []).length : 0;
  if (aofDelays > 0) say(`  note: Redis logged ${aofDelays} delayed AOF write(s) ("fsync is taking too long"): a kill -9 then may lose up to 2 s of writes`);
  printSummary(say, { options, result, rules, verdict, counts, skewMs, skewSlot, dir, snapshots, history });

  await proxy.close();
  await redis.stop();
  forgetRedis(redisDir);
  // Lost jobs that never reached the AOF were lost by Redis (acknowledged, then not written before a
  // kill -9: the everysec window, see aof.ts), not by the queue: say which, from the file itself.
  const notInAof = options.aof && result.lost.length > 0 ? idsNotInAof(redisDir, result.lost.slice(0, 1000)) : [];
  if (notInAof === undefined) say('  the AOF was rewritten during the run: it cannot tell whether the lost jobs reached it');
  else if (notInAof.length > 0) {
    say(
      `  ${notInAof.length} of the lost jobs never reached the AOF (Redis acknowledged them, then a kill -9 came before ` +
        `it wrote them: its everysec window${options.aofOnDisk ? '' : ', which tmpfs should have closed'}): ${notInAof.slice(0, 10).join(', ')}`,
    );
  }
  settleAof(redisDir, !verdict.ok);
  if (verdict.ok) rmSync(redisDir, { recursive: true, force: true });
  const summary = {
    lost: result.lost.length,
    unexpected: result.unexpected.length,
    duplicates: result.duplicates,
    workerKills: counts.workerKills,
    redisRestarts: counts.redisRestarts,
    early: result.early.length,
    workerTerms: counts.workerTerms,
    clientKills: counts.clientKills,
    pauses: counts.pauses,
    proxyResets: counts.proxyResets,
    blackholes: counts.blackholes,
    halfOpens: counts.halfOpens,
    memoryPressures: counts.memoryPressures,
    queuePauses: counts.queuePauses,
    skewMs,
    attempted: result.attempted,
    acked: result.acked,
    failedEnqueues: result.failedEnqueues,
    completed: result.completed,
    deadLettered: result.deadLettered,
    duplicatesBy: result.duplicatesBy,
    crashAllowance: result.crashAllowance,
    staleSettles: result.staleSettles,
    workerLags: result.lags.count,
    workerLagMaxMs: result.lags.maxMs,
    staleNoFault: result.staleNoFault.reduce((n, st) => n + st.n, 0),
    leaseless: seen.leaseless.length + seen.unrecoverable.length + seen.undercounted.length,
    invariantViolations: countViolations(seen),
    leftover,
    poisonBad: result.poisonBad.length,
    deadUnexpected: result.deadUnexpected.length,
    deadByFaults: result.deadByFaults.length,
    stuckWorkers: probe.stuck.length,
    halfOpenStalls: result.halfOpen.filter((f) => f.recoveredAfterMs === undefined).length,
    workerCrashes: result.workerCrashes.length,
    concurrencyExceeded: result.concurrencyExceeded.length + rules.concurrencyExceeded.length + rules.groupConcurrencyExceeded.length,
    rulesDeliveries: rules.deliveries,
    claimTimesResolved: `${rules.claimsResolved}/${rules.claimsResolved + rules.claimsUnresolved}`,
    rateBusiestWindow: `${rules.busiestWindow}/${RULES.rateLimit.max}`,
    rateExceeded: rules.rateExceeded.length,
    globalConcurrencyMax: `${rules.maxRunning}/${RULES.globalConcurrency}`,
    groupConcurrencyMax: `${rules.maxGroupRunning}/${RULES.groupConcurrency}`,
    concurrencyChecked: `${rules.concurrencyChecked}/${rules.concurrencyChecked + rules.concurrencyExcluded}`,
    cancels: rules.cancels,
    cancelAbortsSeen: rules.cancelAbortsSeen,
    cancelledCompleted: rules.cancelledCompleted.length,
    startedAfterCancel: rules.startedAfterCancel.length,
    pausesChecked: rules.pausesChecked,
    startedWhilePaused: rules.startedWhilePaused.length,
    scheduleTicks: rules.scheduleTicks,
    scheduleMissed: rules.scheduleMissed,
    scheduleAfterHeal: rules.scheduleAfterHeal,
    scheduleDuplicates: rules.scheduleDuplicates.length,
    scheduleRedeliveries: rules.scheduleRedeliveries,
    longFirstAttempt: `${result.longFirstAttempt}/${result.longCompleted}`,
    snapshots,
    aofDelays,
    lostNotInAof: notInAof?.length ?? null,
    libraryChanged,
    durationS: Math.round((Date.now() - startedAt) / 1000),
    mode: options.quick ? 'quick' : 'default',
    faults: [...options.faults].join(','),
    aof: options.aof,
    aofOnTmpfs: aofOnTmpfs !== undefined,
    seed: options.seed,
    ok: verdict.ok,
  };
  writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(summary)}\n`);
  say(JSON.stringify(summary));
  return verdict.ok ? 0 : 1;
}

/**
 * A hash of the library's sources (TypeScript and Lua, not its unit tests). Worker processes restarted
 * during a run load the files as they are then: if someone edits the library meanwhile, old and new code
 * run side by side and the history proves nothing about either.
 */
function libraryFingerprint(): string {
  const hash = createHash('sha1');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|lua)$/.test(entry.name) && !entry.name.endsWith('.spec.ts')) hash.update(path).update(readFileSync(path));
    }
  };
  walk(fileURLToPath(new URL('../../libs/redis-queue/src', import.meta.url)));
  return hash.digest('hex');
}

function isProducerEvent(ev: JournalEvent): boolean {
  return ev.e === 'attempt' || ev.e === 'ack' || ev.e === 'fail';
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

/**
 * How long the queue may stay without shrinking before the drain gives up: more than the longest job
 * (2.7 leases), its lease, the longest backoff and delay together, with room for a loaded machine.
 */
const DRAIN_STALL_MS = 20_000;

/**
 * Waits until ready, delayed and active are all empty (twice in a row). Gives up when their total has
 * not gone below its lowest value for `stallMs` (nothing is taking the jobs), or after `capMs` in all.
 */
async function drain(
  inspector: QueueInspector,
  stallMs: number,
  capMs: number,
  queues: string[] = [QUEUE],
): Promise<{ ok: boolean; ms: number; counts?: QueueCounts; why?: string }> {
  const start = Date.now();
  let empties = 0;
  let counts: QueueCounts | undefined;
  let lowest = Infinity;
  let lowestAt = start;
  while (true) {
    const now = Date.now();
    if (now - lowestAt >= stallMs) return { ok: false, ms: now - start, counts, why: `no progress for ${stallMs / 1000} s` };
    if (now - start >= capMs) return { ok: false, ms: now - start, counts, why: `still shrinking after the ${capMs / 1000} s cap` };
    try {
      const each = await withTimeout(Promise.all(queues.map((q) => inspector.counts(q))), 5000);
      counts = each.reduce((sum, c) => ({ ...sum, ready: sum.ready + c.ready, delayed: sum.delayed + c.delayed, active: sum.active + c.active }));
      const left = counts.ready + counts.delayed + counts.active;
      empties = left === 0 ? empties + 1 : 0;
      if (empties >= 2) return { ok: true, ms: Date.now() - start };
      if (left < lowest) {
        lowest = left;
        lowestAt = Date.now();
      }
    } catch {
      empties = 0;
    }
    await sleep(500);
  }
}

/**
 * Enqueues enough short probe jobs for every worker to take some, and checks that each running
 * incarnation started at least one: a worker whose connections never recovered would start none. The
 * others may take a whole round while a healthy worker still waits out a reconnect backoff: a worker is
 * stuck only if it takes none in PROBE_ROUNDS rounds.
 */
async function runProbes(
  url: string,
  inspector: QueueInspector,
  slots: WorkerSlot[],
  o: ChaosOptions,
): Promise<{ insts: string[]; stuck: string[] }> {
  const insts = slots.map((s) => s.inst!).filter(Boolean);
  const client = createClient(url, { role: 'producer', name: 'chaos-harness-probes', commandTimeout: 5000, logger: silent });
  const producer = new JobProducer({ client, prefix: PREFIX, timeout: 5000 });
  const n = o.workers * o.concurrency * 2;
  let stuck = insts;
  try {
    for (let round = 1; round <= PROBE_ROUNDS && stuck.length > 0; round++) {
      const ids = Array.from({ length: n }, (_, i) => `probe-${round}-${i + 1}`);
      const at = Date.now();
      for (const id of ids) journal.write({ e: 'attempt', id, kind: 'probe', delay: 0, at });
      await producer.enqueueMany(
        QUEUE,
        ids.map((jobId) => ({ payload: { kind: 'probe', work: 250 }, options: { jobId } })),
      );
      for (const id of ids) journal.write({ e: 'ack', id, at: Date.now() });
      await drain(inspector, DRAIN_STALL_MS, 60_000);
      const journals = workerJournals(dir);
      stuck = stuck.filter((inst) => {
        const path = journals.get(inst);
        return !path || !readJournal(path).some((ev) => ev.e === 'start' && ev.id.startsWith('probe-'));
      });
    }
  } finally {
    await closeClient(client);
  }
  return { insts, stuck };
}

const PROBE_ROUNDS = 3;

function judge(
  r: CheckResult,
  rules: RulesResult,
  extra: {
    libraryChanged: boolean;
    violations: SnapshotViolations;
    leftover: number;
    leftoverIds: string[];
    stuck: string[];
    drained: boolean;
    sigtermOnly: boolean;
  },
): Verdict {
  const failures: string[] = [];
  if (extra.libraryChanged) failures.push('invalid run: the library (libs/redis-queue/src) was edited while it ran; run it again');
  const list = (ids: string[]) => ids.slice(0, 10).join(', ') + (ids.length > 10 ? ', ...' : '');
  if (r.acked === 0 || r.completed === 0) failures.push(`the run did no work (acked ${r.acked}, completed ${r.completed})`);
  if (r.lost.length > 0) failures.push(`lost: ${r.lost.length} acked job(s) neither completed nor dead-lettered: ${list(r.lost)}`);
  if (r.unexpected.length > 0) failures.push(`unexpected: ${r.unexpected.length} completed job(s) never enqueued: ${list(r.unexpected)}`);
  if (r.early.length > 0) {
    failures.push(`early: ${r.early.length} delayed job(s) started before due: ${r.early.slice(0, 5).map((e) => `${e.id} by ${e.byMs} ms on ${e.inst}`).join(', ')}`);
  }
  const v = extra.violations;
  for (const key of Object.keys(v) as (keyof SnapshotViolations)[]) {
    if (v[key].length > 0) failures.push(`Redis invariant "${key}" broken for ${v[key].length} id(s): ${list(v[key])}`);
  }
  if (!extra.drained || extra.leftover > 0) failures.push(`leftover: ${extra.leftover} job(s) still queued or in flight at the end: ${list(extra.leftoverIds)}`);
  if (r.poisonBad.length > 0) failures.push(`poison: ${r.poisonBad.length} always-failing job(s) wrong: ${r.poisonBad.slice(0, 5).map((p) => `${p.id} ${p.problem}`).join('; ')}`);
  if (r.deadUnexpected.length > 0) {
    failures.push(
      `dead-lettered: ${r.deadUnexpected.length} job(s) that should have succeeded: ${r.deadUnexpected
        .slice(0, 5)
        .map((d) => `${d.id} (${d.kind}, attemptsMade ${d.attemptsMade}, ${d.error}; ${d.why})`)
        .join('; ')}`,
    );
  }
  if (r.duplicatesBy.unexplained > 0) failures.push(`duplicates: ${r.duplicatesBy.unexplained} duplicate completion(s) with no crash, lease loss or re-enqueue to explain them`);
  if (r.duplicatesBy['stored-twice'] > 0) {
    failures.push(
      `duplicates: ${r.duplicatesBy['stored-twice']} job(s) stored twice while the id was taken (one enqueue call re-sent, ` +
        `or a retried enqueue within the ${options.idRetentionMs} ms id retention after the job completed)`,
    );
  }
  if (r.duplicatesBy['lease-lost-no-fault'] > 0) {
    const where = r.staleNoFault
      .slice(0, 5)
      .map((s) => `${s.inst}${s.stopping ? ' while shutting down gracefully' : ''}`)
      .join(', ');
    failures.push(`duplicates: ${r.duplicatesBy['lease-lost-no-fault']} after leases lost with no fault to stall the worker (${where})`);
  }
  if (r.duplicatesBy.crash > r.crashAllowance) failures.push(`duplicates: ${r.duplicatesBy.crash} after crashes, more than SIGKILLs x the concurrency of both queues = ${r.crashAllowance}`);
  if (extra.sigtermOnly && r.duplicates > 0) {
    const lags = r.lags.count > 0 ? `; workers reported ${r.lags.count} event-loop lag(s) of up to ${r.lags.maxMs} ms, and a starved worker can lose a lease too` : '';
    failures.push(`duplicates: ${r.duplicates} in a SIGTERM-only run (graceful shutdown must not duplicate${lags})`);
  }
  const stalled = r.halfOpen.filter((f) => f.recoveredAfterMs === undefined);
  if (stalled.length > 0) {
    failures.push(
      `half-open: ${stalled.length} of ${r.halfOpen.length} client(s) never replaced a silently dead connection ` +
        `(${stalled.map((f) => `${f.inst ?? f.target} for ${(f.ms / 1000).toFixed(0)} s`).join(', ')}); they only recovered when the network reset it`,
    );
  }
  if (extra.stuck.length > 0) failures.push(`stuck: worker(s) ${extra.stuck.join(', ')} ran no probe job after healing`);
  if (r.concurrencyExceeded.length > 0) {
    failures.push(`concurrency: ${r.concurrencyExceeded.map((c) => `${c.inst} ran ${c.max} handlers at once`).join(', ')} (limit ${options.concurrency})`);
  }
  if (r.workerCrashes.length > 0) failures.push(`crashed: worker process(es) exited on their own: ${r.workerCrashes.join(', ')}`);
  failures.push(...rulesFailures(rules));
  return { ok: failures.length === 0 && !interrupted, failures };
}

/** The queue-wide rules of the rules queue and the schedule (rules-checker.ts), as failures. */
function rulesFailures(x: RulesResult): string[] {
  const failures: string[] = [];
  const ids = (list: string[]) => list.slice(0, 8).join(' ') + (list.length > 8 ? ' ...' : '');
  const { max, duration } = RULES.rateLimit;
  for (const w of x.rateExceeded.slice(0, 3)) failures.push(`rate limit: ${w.count} claims within ${duration} ms from ${w.from} (Redis clock), limit ${max}: ${ids(w.ids)}`);
  for (const o of x.concurrencyExceeded.slice(0, 3)) {
    failures.push(`global concurrency: ${o.running} handlers of ${RULES_QUEUE} running at ${o.at}, limit ${RULES.globalConcurrency}: ${ids(o.ids)}`);
  }
  for (const o of x.groupConcurrencyExceeded.slice(0, 3)) {
    failures.push(`group concurrency: ${o.running} handlers of group ${o.group} running at ${o.at}, limit ${RULES.groupConcurrency}: ${ids(o.ids)}`);
  }
  if (x.cancelledCompleted.length > 0) {
    failures.push(`cancel: ${x.cancelledCompleted.length} cancelled job(s) did not end cancelled: ${x.cancelledCompleted.slice(0, 8).map((c) => `${c.id} (${c.outcome}, now ${c.state})`).join(', ')}`);
  }
  if (x.startedAfterCancel.length > 0) {
    failures.push(
      `cancel: ${x.startedAfterCancel.length} delivery(ies) claimed after a cancel returned: ${x.startedAfterCancel
        .slice(0, 8)
        .map((c) => `${c.id} (${c.outcome} at ${c.cancelledAt}, claimed at ${c.claimAt})`)
        .join(', ')}`,
    );
  }
  if (x.startedWhilePaused.length > 0) {
    failures.push(
      `pause: ${x.startedWhilePaused.length} claim(s) while ${RULES_QUEUE} was paused: ${x.startedWhilePaused
        .slice(0, 8)
        .map((p) => `${p.id} at ${p.claimAt} (paused ${p.pausedAt}..${p.resumeAt})`)
        .join(', ')}`,
    );
  }
  if (x.scheduleDuplicates.length > 0) failures.push(`schedule: more than one job for a tick: ${x.scheduleDuplicates.slice(0, 5).map((d) => `${d.id} ${d.why}`).join('; ')}`);
  if (x.scheduleAfterHeal === 0) failures.push(`schedule: no tick of "${TICK_SCHEDULE.name}" (every ${TICK_SCHEDULE.every} ms) fired after healing`);
  return failures;
}

/** Violations of another queue's snapshot, its ids prefixed with the queue's name. */
function named(queue: string, v: SnapshotViolations): SnapshotViolations {
  if (queue === QUEUE) return v;
  const out = { ...v };
  for (const key of Object.keys(v) as (keyof SnapshotViolations)[]) out[key] = v[key].map((id) => `${queue}/${id}`);
  return out;
}

/** Queues whose keys the snapshots read during the faults. */
const SNAPSHOT_QUEUES = [QUEUE, RULES_QUEUE, TICK_QUEUE];

main()
  .then((code) => {
    journal.close();
    process.exit(code);
  })
  .catch(async (error: unknown) => {
    console.error(`chaos: the harness failed: ${(error as Error).stack ?? String(error)}`);
    killAllChildren();
    await redis?.kill('SIGKILL');
    forgetRedis(redisDir);
    await proxy?.close();
    const libraryChanged = library !== undefined && libraryFingerprint() !== library;
    if (libraryChanged) console.error('chaos: libs/redis-queue/src changed during the run, which may explain this failure');
    say(JSON.stringify({ error: (error as Error).message, libraryChanged, seed: options.seed, ok: false }));
    process.exit(3);
  });
