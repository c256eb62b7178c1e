// `npm run bench [-- --quick]`: nestjs-redis-queue (its engine, and its Nest API) against BullMQ and bee-queue,
// in one run, on one throwaway redis-server (persistence off), each column in turn with the Redis flushed in
// between. Prints tables, PASS/FAIL per target, and as its last line one JSON object with every figure; writes
// bench/results/latest.json and bench/RESULTS.md. See bench/README.md for options and method.
import { readFileSync } from 'fs';
import { cpus, loadavg, release, totalmem } from 'os';
import { Redis } from 'ioredis';
import { RedisServer } from '../libs/redis-queue/src/testing/redis-server.js';
import { LibraryId } from './adapters/index.js';
import { columns, countsOverridden, parseArgs, PHASES } from './config.js';
import { LibraryRun, log } from './library-run.js';
import { monoMs } from './payload.js';
import { infoString, ownAddress } from './redis-stats.js';
import { evaluateTargets, printReport, ratiosVsBullmq, writeResults } from './report.js';
import { BenchReport, LibraryResult, round } from './results.js';

function packageVersion(path: string): string {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

const VERSIONS: Record<LibraryId, string> = {
  ours: packageVersion('libs/redis-queue/package.json'),
  bullmq: packageVersion('node_modules/bullmq/package.json'),
  beeQueue: packageVersion('node_modules/bee-queue/package.json'),
};

const loadAverage = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

async function machineInfo(admin: Redis): Promise<Record<string, string | number>> {
  return {
    cpu: cpus()[0]?.model ?? '?',
    cores: cpus().length,
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    os: `${process.platform} ${release()}`,
    node: process.version,
    redis: await infoString(admin, 'server', 'redis_version'),
    loadAverageAtStart: loadAverage(),
  };
}

async function main(): Promise<void> {
  const started = monoMs();
  const argv = process.argv.slice(2);
  const config = parseArgs(argv);
  const command = `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
  const plan = columns(config);
  log(`${config.quick ? 'quick' : 'full'} run: ${config.jobs} jobs; columns ${plan.map((c) => c.key).join(', ')}; phases ${[...config.phases].join(', ')}`);
  const server = await RedisServer.start({ args: ['--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'] });
  let admin: Redis | undefined;
  const runs: LibraryRun[] = [];
  const stopAll = async () => {
    for (const run of runs) await run.teardown().catch(() => undefined);
    admin?.disconnect();
    await server.stop();
  };
  const onSignal = () => {
    log('interrupted: stopping workers and redis-server');
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    admin = new Redis(server.url, { connectionName: 'bench-admin', maxRetriesPerRequest: 3 });
    const adminAddress = await ownAddress(admin);
    const machine = await machineInfo(admin);
    const libraries: Record<string, LibraryResult> = {};
    const best: Partial<Record<LibraryId, number>> = {};
    for (const column of plan) {
      const run = new LibraryRun(column, config, server.url, admin, adminAddress, VERSIONS[column.lib]);
      runs.push(run);
      libraries[column.key] = run.result;
      try {
        await run.setup();
      } catch (error) {
        run.result.errors.push(`setup: ${(error as Error).message}`);
        continue;
      }
      await run.phase('trials', 'warm-up', () => run.warmUp());
      // The engine column of each library chooses its concurrency; ours's other columns use the same.
      const inherited = column.key === column.lib ? undefined : best[column.lib];
      if (config.concurrency) run.useConcurrency(config.concurrency);
      else if (inherited) run.useConcurrency(inherited);
      else await run.phase('trials', 'concurrency trials', () => run.chooseConcurrency());
      const candidates = config.candidates[column.lib];
      if (!run.concurrency) run.useConcurrency(candidates[Math.floor(candidates.length / 2)]);
      best[column.lib] ??= run.concurrency;
      await run.phase('bulk', 'bulk enqueue + memory', () => run.bulkEnqueueAndMemory());
      await run.phase('processing', 'processing', () => run.processing());
      await run.phase('concurrent', `single enqueue from ${config.concurrentCallers} concurrent callers`, () => run.concurrentEnqueue());
      await run.phase('monitor', 'client commands (MONITOR sample)', () => run.roundTrips());
      await run.phase('idle', 'idle', () => run.idle());
      await run.phase('latency', 'latency', () => run.latency());
      await run.phase('delayed', 'delayed lateness', () => run.delayed());
      await run.phase('schedules', 'schedule lateness', () => run.schedules());
      await run.phase('features', 'opt-in feature costs', () => run.features());
      if (column.lib === 'ours' || config.scalePeers) await run.phase('scale', `scale (${config.scaleDelayed} delayed)`, () => run.scale());
      else if (run.runs('scale')) run.result.scale = { skipped: '--no-scale-peers' };
      await run.phase('queues', `worker processes with ${config.queueCounts.join(' / ')} queues, idle`, () => run.queues());
      await run.teardown();
    }
    const report: BenchReport = {
      bench: 'nestjs-redis-queue',
      mode: config.quick ? 'quick' : 'full',
      date: new Date().toISOString(),
      command,
      machine: { ...machine, loadAverageAtEnd: loadAverage() },
      config: { ...config, phases: [...config.phases] },
      libraries,
      ratiosVsBullmq: ratiosVsBullmq(libraries),
      targets: [],
      durationSeconds: 0,
    };
    report.targets = evaluateTargets(report);
    report.durationSeconds = round((monoMs() - started) / 1000, 1);
    // Only a complete run (every library and column, every phase, the mode's counts) becomes bench/RESULTS.md.
    const complete =
      config.libs.length === 3 && config.nest && config.validators.length === 2 && config.phases.size === PHASES.length && !countsOverridden(argv);
    writeResults(report, complete);
    printReport(report);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll();
  }
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    log(`bench failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
