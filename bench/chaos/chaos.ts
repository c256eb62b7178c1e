// `npm run chaos [-- --quick] [--seed=N] [--faults=all|sigterm|...] [--no-aof]`: the fault harness.
// Starts its own redis-server (AOF everysec, noeviction) on a free loopback port, a fault proxy, worker
// processes (the Nest module, as users run it) and a producer process; injects seeded faults for a
// bounded time; heals, drains, probes every worker; then checks the history as Jepsen's queue checker
// does (lost, unexpected, duplicates with their causes, early delayed jobs, Redis invariants). Prints a
// summary and, as its last line, one JSON object; exits 1 when an invariant fails. See bench/chaos/README.md.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { join, relative, resolve } from 'path';
import { Redis } from 'ioredis';
import {
  closeClient,
  createClient,
  DeadJob,
  JobProducer,
  QueueCounts,
  QueueInspector,
} from '../../libs/redis-queue/src/engine/index.js';
import { RedisServer } from '../../libs/redis-queue/src/testing/index.js';
import { check, CheckResult, emptyViolations, mergeViolations } from './checker.js';
import { killAllChildren, ProducerProcess, WorkerSlot } from './cluster.js';
import { PREFIX, QUEUE } from './jobs.js';
import { Journal, JournalEvent, readJournal, workerJournals } from './journal.js';
import { Nemesis } from './nemesis.js';
import { ChaosOptions, parseOptions } from './options.js';
import { FaultProxy } from './proxy.js';
import { Random } from './random.js';
import { countViolations, leftovers, snapshot, SnapshotViolations, violations } from './redis-state.js';
import { printSummary, Verdict } from './report.js';

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
mkdirSync(join(dir, 'redis'), { recursive: true });
const journal = new Journal(join(dir, 'harness.jsonl'));

let redis: RedisServer | undefined;
let proxy: FaultProxy | undefined;
let interrupted = false;

/** Ctrl-C, a kill from CI or a test timeout: nothing this run started may outlive it. */
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\nchaos: ${signal}: stopping every process this run started`);
    killAllChildren();
    void (redis?.kill('SIGKILL') ?? Promise.resolve()).finally(() => process.exit(130));
  });
}
process.once('exit', () => killAllChildren());

const phase = (name: string): void => say(`[${((Date.now() - startedAt) / 1000).toFixed(1).padStart(6)}s] ${name}`);

async function main(): Promise<number> {
  const mode = options.quick ? 'quick' : 'default';
  say(
    `chaos: ${mode} run, seed ${options.seed}, faults ${[...options.faults].join(',') || 'none'}, AOF ${options.aof ? 'on' : 'OFF'}; ` +
      `${options.workers} workers x concurrency ${options.concurrency}, lease ${options.leaseMs} ms, ${options.rate} jobs/s for ${options.duration} s`,
  );
  say(`chaos: journals in ${relative(process.cwd(), dir) || dir}`);

  redis = await RedisServer.start({
    appendonly: options.aof,
    dir: join(dir, 'redis'),
    args: ['--maxmemory-policy', 'noeviction', '--appendfsync', 'everysec'],
  });
  const admin = new Redis(redis.port, '127.0.0.1', {
    connectionName: 'chaos-harness',
    maxRetriesPerRequest: 2,
    retryStrategy: () => 200,
  });
  admin.on('error', () => undefined);
  const [, aofSetting] = (await admin.config('GET', 'appendonly')) as string[];
  const [, policy] = (await admin.config('GET', 'maxmemory-policy')) as string[];
  phase(`redis-server on 127.0.0.1:${redis.port} (appendonly ${aofSetting}, appendfsync everysec, maxmemory-policy ${policy})`);

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
          url: (s) => proxy!.url(s),
          skew: (s) => (s === skewSlot ? skewMs : 0),
        },
        journal,
      ),
  );
  await Promise.all(slots.map((s) => s.start()));
  phase(
    `${options.workers} workers up behind the fault proxy` +
      (skewSlot >= 0 ? `; worker slot ${skewSlot} runs with its clock ${skewMs > 0 ? '+' : ''}${(skewMs / 60_000).toFixed(1)} min off` : ''),
  );
  const producer = await ProducerProcess.start(
    { url: proxy.url(options.workers), journal: join(dir, 'producer.jsonl'), seed: options.seed, rate: options.rate, leaseMs: options.leaseMs },
    join(dir, 'producer.stderr'),
  );
  phase('producer up; injecting faults');

  // Fault phase, with a snapshot of the queue's keys every few seconds checked against the data model.
  const nemesis = new Nemesis(options, slots, redis, proxy, admin, journal, say);
  const until = Date.now() + options.duration * 1000;
  const seen: SnapshotViolations = emptyViolations();
  let snapshots = 0;
  const snapshotLoop = (async () => {
    while (Date.now() < until) {
      await sleep(4000);
      try {
        const snap = await withTimeout(snapshot(admin), 8000);
        const v = violations(snap);
        snapshots++;
        if (countViolations(v) > 0) {
          const file = join(dir, `snapshot-${snapshots}.json`);
          const plain = { ...snap, active: Object.fromEntries(snap.active), batches: Object.fromEntries(snap.batches) };
          writeFileSync(file, JSON.stringify({ violations: v, snapshot: plain }, null, 1));
          say(`  ! Redis invariant broken in snapshot ${snapshots} (${relative(process.cwd(), file)}): ${JSON.stringify(v).slice(0, 300)}`);
        }
        mergeViolations(seen, v);
      } catch {
        // Redis down or paused: the next snapshot will do
      }
    }
  })();
  const progress = setInterval(() => {
    const c = nemesis.counts;
    phase(
      `faults so far: ${c.workerKills} SIGKILL, ${c.workerTerms} SIGTERM, ${c.redisRestarts} Redis restarts, ${c.clientKills} CLIENT KILLed, ` +
        `${c.pauses} pauses, ${c.proxyResets} resets, ${c.blackholes} blackholes, ${c.halfOpens} half-open; workers up: ${slots.filter((s) => s.up).length}`,
    );
  }, options.quick ? 20_000 : 60_000);
  await Promise.all([nemesis.run(until), snapshotLoop]);
  clearInterval(progress);

  // Heal: network and Redis fine, every worker running, the producer finished.
  phase('healing: network restored, Redis up, every worker restarted; stopping the producer');
  proxy.heal();
  if (!redis.running) await nemesis.restartRedis();
  await nemesis.settle();
  await Promise.all(slots.map((s) => s.restart()));
  const producerExit = await producer.stop(30_000);
  if (producerExit.code !== 0) say(`  ! producer exited with code ${producerExit.code}, signal ${producerExit.signal}`);

  const inspector = new QueueInspector(admin, PREFIX);
  const drained = await drain(inspector, options.quick ? 60_000 : 90_000);
  phase(drained.ok ? `drained in ${(drained.ms / 1000).toFixed(1)} s` : `NOT drained after ${(drained.ms / 1000).toFixed(0)} s: ${JSON.stringify(drained.counts)}`);

  // Probes: every worker must claim again after all those faults (a hung connection would not).
  const probe = await runProbes(redis.url, inspector, slots, options);
  phase(probe.stuck.length === 0 ? `probes: all ${probe.insts.length} workers claimed and ran jobs` : `probes: STUCK workers: ${probe.stuck.join(', ')}`);

  phase('stopping workers (SIGTERM)');
  await Promise.all(slots.map((s) => s.stop(options.shutdownMs + 10_000)));

  // Final state: nothing in flight, nothing left, dead letters as planned.
  const finalSnapshot = await snapshot(admin);
  const finalViolations = violations(finalSnapshot);
  mergeViolations(seen, finalViolations);
  const leftover = leftovers(finalSnapshot).length;
  const dead = new Map<string, DeadJob>();
  for (const job of await inspector.deadJobs(QUEUE, { limit: 10_000_000 })) dead.set(job.id, job);
  await closeClient(admin);

  const history = {
    concurrency: options.concurrency,
    leaseMs: options.leaseMs,
    noAof: !options.aof,
    sigtermOnly: [...options.faults].every((f) => f === 'sigterm'),
    producer: [...readJournal(join(dir, 'producer.jsonl')), ...readJournal(join(dir, 'harness.jsonl')).filter(isProducerEvent)],
    workers: new Map([...workerJournals(dir)].map(([inst, path]) => [inst, readJournal(path)])),
    harness: readJournal(join(dir, 'harness.jsonl')),
    dead,
  };
  const result = check(history);
  const verdict = judge(result, {
    violations: seen,
    leftover,
    leftoverIds: leftovers(finalSnapshot).slice(0, 20),
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
  printSummary(say, { options, result, verdict, counts, skewMs, skewSlot, dir, snapshots, history });

  if (verdict.ok) rmSync(join(dir, 'redis'), { recursive: true, force: true });
  await proxy.close();
  await redis.stop();
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
    skewMs,
    attempted: result.attempted,
    acked: result.acked,
    failedEnqueues: result.failedEnqueues,
    completed: result.completed,
    deadLettered: result.deadLettered,
    duplicatesBy: result.duplicatesBy,
    crashAllowance: result.crashAllowance,
    staleSettles: result.staleSettles,
    staleNoFault: result.staleNoFault.reduce((n, st) => n + st.n, 0),
    leaseless: seen.leaseless.length + seen.unrecoverable.length + seen.undercounted.length,
    invariantViolations: countViolations(seen),
    leftover,
    poisonBad: result.poisonBad.length,
    deadUnexpected: result.deadUnexpected.length,
    stuckWorkers: probe.stuck.length,
    halfOpenStalls: result.halfOpen.filter((f) => f.recoveredAfterMs === undefined).length,
    workerCrashes: result.workerCrashes.length,
    concurrencyExceeded: result.concurrencyExceeded.length,
    longFirstAttempt: `${result.longFirstAttempt}/${result.longCompleted}`,
    snapshots,
    aofDelays,
    durationS: Math.round((Date.now() - startedAt) / 1000),
    mode: options.quick ? 'quick' : 'default',
    faults: [...options.faults].join(','),
    aof: options.aof,
    seed: options.seed,
    ok: verdict.ok,
  };
  say(JSON.stringify(summary));
  return verdict.ok ? 0 : 1;
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

/** Waits until ready, delayed and active are all empty (twice in a row), at most `ms`. */
async function drain(inspector: QueueInspector, ms: number): Promise<{ ok: boolean; ms: number; counts?: QueueCounts }> {
  const start = Date.now();
  let empties = 0;
  let counts: QueueCounts | undefined;
  while (Date.now() - start < ms) {
    try {
      counts = await inspector.counts(QUEUE);
      empties = counts.ready + counts.delayed + counts.active === 0 ? empties + 1 : 0;
      if (empties >= 2) return { ok: true, ms: Date.now() - start };
    } catch {
      empties = 0;
    }
    await sleep(500);
  }
  return { ok: false, ms: Date.now() - start, counts };
}

/**
 * Enqueues enough short probe jobs for every worker to take some, and checks that each running
 * incarnation started at least one: a worker whose connections never recovered would start none.
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
  const ids = Array.from({ length: n }, (_, i) => `probe-${i + 1}`);
  const at = Date.now();
  for (const id of ids) journal.write({ e: 'attempt', id, kind: 'probe', delay: 0, at });
  await producer.enqueueMany(
    QUEUE,
    ids.map((jobId) => ({ payload: { kind: 'probe', work: 250 }, options: { jobId } })),
  );
  for (const id of ids) journal.write({ e: 'ack', id, at: Date.now() });
  await closeClient(client);
  await drain(inspector, 30_000);
  const journals = workerJournals(dir);
  const stuck = insts.filter((inst) => {
    const path = journals.get(inst);
    return !path || !readJournal(path).some((ev) => ev.e === 'start' && ev.id.startsWith('probe-'));
  });
  return { insts, stuck };
}

function judge(
  r: CheckResult,
  extra: { violations: SnapshotViolations; leftover: number; leftoverIds: string[]; stuck: string[]; drained: boolean; sigtermOnly: boolean },
): Verdict {
  const failures: string[] = [];
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
        .map((d) => `${d.id} (${d.kind}, attemptsMade ${d.attemptsMade}, ${d.error})`)
        .join('; ')}`,
    );
  }
  if (r.duplicatesBy.unexplained > 0) failures.push(`duplicates: ${r.duplicatesBy.unexplained} duplicate completion(s) with no crash, lease loss or re-enqueue to explain them`);
  if (r.duplicatesBy['stored-twice'] > 0) {
    failures.push(`duplicates: ${r.duplicatesBy['stored-twice']} job(s) stored twice from a single enqueue call`);
  }
  if (r.duplicatesBy['lease-lost-no-fault'] > 0) {
    const where = r.staleNoFault
      .slice(0, 5)
      .map((s) => `${s.inst}${s.stopping ? ' while shutting down gracefully' : ''}`)
      .join(', ');
    failures.push(`duplicates: ${r.duplicatesBy['lease-lost-no-fault']} after leases lost with no fault to stall the worker (${where})`);
  }
  if (r.duplicatesBy.crash > r.crashAllowance) failures.push(`duplicates: ${r.duplicatesBy.crash} after crashes, more than SIGKILLs x concurrency = ${r.crashAllowance}`);
  if (extra.sigtermOnly && r.duplicates > 0) failures.push(`duplicates: ${r.duplicates} in a SIGTERM-only run (graceful shutdown must not duplicate)`);
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
  return { ok: failures.length === 0 && !interrupted, failures };
}

main()
  .then((code) => {
    journal.close();
    process.exit(code);
  })
  .catch(async (error: unknown) => {
    console.error(`chaos: the harness failed: ${(error as Error).stack ?? String(error)}`);
    killAllChildren();
    await redis?.kill('SIGKILL');
    await proxy?.close();
    say(JSON.stringify({ error: (error as Error).message, seed: options.seed, ok: false }));
    process.exit(3);
  });
