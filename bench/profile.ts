// Profiles our worker on its hot path: `node --import @swc-node/register/esm-register bench/profile.ts
// [--jobs=300000] [--concurrency=1000] [--runs=2] [--no-profile]`. Starts a throwaway redis-server, enqueues the jobs, then
// processes them in this process with the V8 profiler on only while jobs run, and prints where the worker's
// CPU goes (self time per function and per file), Redis's commandstats and SLOWLOG for the same window,
// and Redis CPU per job. The profile is written to bench/results/ (open it in Chrome DevTools).
// `bench/profile.ts --summarize <file.cpuprofile>` prints the summary of any profile.
import { mkdirSync, readFileSync, writeFileSync } from 'fs';
import { Session } from 'inspector';
import { pathToFileURL } from 'url';
import { Redis } from 'ioredis';
import { closeClient, consoleLogger, createClient, JobProducer, PubSub, QueueInspector, QueueWorker, whenReady } from '../libs/redis-queue/src/engine/index.js';
import { RedisServer } from '../libs/redis-queue/src/testing/redis-server.js';
import { emailJob, monoMs } from './payload.js';
import { commandStats, redisCpuSeconds } from './redis-stats.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export function summarizeProfile(profile: CpuProfile, top = 30): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const short = (url: string) =>
    url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'node_modules/').replace(`${process.cwd()}/`, '');
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    total += us;
    if (f.functionName === '(idle)') idle += us;
    const key = `${f.functionName || '(anonymous)'}  ${f.url ? `${short(f.url)}:${f.lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const file = f.url ? short(f.url).replace(/^(node_modules\/(@[^/]+\/)?[^/]+).*/, '$1') : f.functionName;
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const list = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `${pct(us)}  ${k}`);
  return [
    `sampled ${(total / 1e6).toFixed(2)} s, ${((100 * (total - idle)) / total).toFixed(1)}% busy`,
    '',
    'self time by function:',
    ...list(byFunction),
    '',
    'self time by file / package:',
    ...list(byFile),
  ].join('\n');
}

function post<T>(session: Session, method: string): Promise<T> {
  return new Promise((resolve, reject) => session.post(method, (error, result) => (error ? reject(error) : resolve(result as T))));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const value = (flag: string, dflt: number) => Number(args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1) ?? dflt);
  if (args[0] === '--summarize') {
    console.log(summarizeProfile(JSON.parse(readFileSync(args[1], 'utf8')) as CpuProfile, value('--top', 40)));
    return;
  }
  const jobs = value('--jobs', 300_000);
  const concurrency = value('--concurrency', 1000);
  const runs = value('--runs', 2);
  const profiling = !args.includes('--no-profile');
  const server = await RedisServer.start({ args: ['--save', '', '--appendonly', 'no'] });
  const admin = new Redis(server.url);
  const inspector = new QueueInspector(admin, 'p');
  const logger = { ...consoleLogger, log: () => undefined };
  const mk = (role: 'producer' | 'worker' | 'blocking', name: string) => createClient(server.url, { role, name, commandTimeout: 60_000, logger });
  const producerClient = mk('producer', 'profile-producer');
  const workerClient = mk('worker', 'profile-worker');
  const session = new Session();
  session.connect();
  try {
    await whenReady(producerClient, 10_000, 'producer');
    const producer = new JobProducer({ client: producerClient, prefix: 'p', timeout: 60_000 });
    const items = Array.from({ length: jobs }, (_, i) => ({ payload: emailJob(i) }));
    await post(session, 'Profiler.enable');
    await post(session, 'Profiler.setSamplingInterval' as never).catch(() => undefined);
    for (let run = 1; run <= runs; run++) {
      await admin.flushall();
      await producer.enqueueMany('email', items);
      await admin.config('RESETSTAT');
      await admin.slowlog('RESET');
      await admin.config('SET', 'slowlog-log-slower-than', '1000');
      let handled = 0;
      let done!: () => void;
      const finished = new Promise<void>((resolve) => (done = resolve));
      const notifications = new PubSub({ connection: server.url, name: 'profile-notify', logger });
      const worker = new QueueWorker({
        queue: 'email',
        prefix: 'p',
        client: workerClient,
        notifications,
        concurrency,
        leaseMs: 30_000,
        defaults: { attempts: 3, backoff: { type: 'fixed', delay: 10 } },
        logger,
        process: async () => {
          if (++handled === jobs) done();
        },
      });
      const cpu0 = await redisCpuSeconds(admin);
      if (profiling && run === runs) await post(session, 'Profiler.start');
      const t0 = monoMs();
      const nodeCpu0 = process.cpuUsage();
      worker.start();
      await finished;
      for (let c = await inspector.counts('email'); c.ready + c.active > 0; c = await inspector.counts('email'));
      const seconds = (monoMs() - t0) / 1000;
      const nodeCpu = process.cpuUsage(nodeCpu0);
      const profile = profiling && run === runs ? (await post<{ profile: CpuProfile }>(session, 'Profiler.stop')).profile : undefined;
      const cpu1 = await redisCpuSeconds(admin);
      await worker.stop(5000);
      const nodeUs = (nodeCpu.user + nodeCpu.system) / jobs;
      console.log(
        `run ${run}: ${jobs} jobs in ${seconds.toFixed(3)} s = ${Math.round(jobs / seconds)} jobs/s; Redis CPU ${(((cpu1 - cpu0) * 1e6) / jobs).toFixed(2)} µs/job; worker CPU ${nodeUs.toFixed(2)} µs/job`,
      );
      if (profile) {
        mkdirSync('bench/results', { recursive: true });
        const file = `bench/results/worker-${Date.now()}.cpuprofile`;
        writeFileSync(file, JSON.stringify(profile));
        const stats = await commandStats(admin);
        const slow = (await admin.slowlog('GET', 10)) as [number, number, number, string[]][];
        console.log(`\nworker CPU profile (${file}):\n${summarizeProfile(profile)}`);
        console.log('\nRedis commandstats (calls per 1000 jobs, µs per call):');
        for (const [cmd, s] of Object.entries(stats).sort((a, b) => b[1].usec - a[1].usec)) {
          console.log(`  ${cmd.padEnd(16)} ${((1000 * s.calls) / jobs).toFixed(2).padStart(8)}  ${(s.usec / s.calls).toFixed(1).padStart(8)} µs  (${((100 * s.usec) / (seconds * 1e6)).toFixed(1)}% of wall time)`);
        }
        console.log(`\nSLOWLOG (> 1 ms): ${slow.length} entries`);
        for (const [, , us, argv] of slow) console.log(`  ${us} µs  ${argv.slice(0, 6).join(' ').slice(0, 120)}`);
      }
    }
  } finally {
    session.disconnect();
    await closeClient(producerClient);
    await closeClient(workerClient);
    admin.disconnect();
    await server.stop();
  }
}

// Run only as a script, so that other tools can import summarizeProfile.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    () => process.exit(0),
    (error: Error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
