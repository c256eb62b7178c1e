// `npm run bench:ops [-- --ready=1000000 --dead=100000]`: how the dashboard's API and the rq CLI answer on
// a queue holding a million waiting and a hundred thousand dead jobs. Starts a throwaway redis-server,
// fills one queue through the engine (the dead jobs are real: a worker dead-letters them), mounts the
// dashboard in a Nest app, then times every page's API call and CLI command (5 runs each: median, max).
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { spawn } from 'child_process';
import { existsSync } from 'fs';
import { performance } from 'perf_hooks';
import { Redis } from 'ioredis';
import {
  closeClient,
  consoleLogger,
  createClient,
  JobProducer,
  PermanentJobError,
  PubSub,
  QueueInspector,
  QueueLogger,
  QueueWorker,
  whenReady,
} from '../libs/redis-queue/src/engine/index.js';
import { RedisQueueModule } from '../libs/redis-queue/src/index.js';
import { RedisQueueDashboardModule } from '../libs/redis-queue/src/dashboard/index.js';
import { RedisServer } from '../libs/redis-queue/src/testing/redis-server.js';

const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const READY = arg('ready', 1_000_000);
const DEAD = arg('dead', 100_000);
const RUNS = 5;
const PREFIX = 'rq';
const QUEUE = 'big';
const quiet: QueueLogger = { ...consoleLogger, log: () => undefined, warn: () => undefined, error: () => undefined };
const say = (line: string) => process.stderr.write(`[ops-scale] ${line}\n`);

interface Row {
  what: string;
  medianMs: number;
  maxMs: number;
  note?: string;
}

async function timed(what: string, run: () => Promise<unknown>, note?: string): Promise<Row> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { what, medianMs: round(times[Math.floor(RUNS / 2)]), maxMs: round(times[RUNS - 1]), note };
}

const round = (n: number) => Math.round(n * 10) / 10;

/** The built binary (what users run) when `npm run build:lib` made it, else the source through the loader. */
const BUILT = 'libs/redis-queue/dist/cli/main.js';
const CLI = existsSync(BUILT) ? [BUILT] : ['--import', '@swc-node/register/esm-register', 'libs/redis-queue/src/cli/main.ts'];

function cli(url: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI, '--url', url, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`rq ${args.join(' ')}: exit ${code}: ${stderr}`))));
  });
}

async function fill(url: string): Promise<void> {
  const client = createClient(url, { role: 'producer', name: 'fill', commandTimeout: 60_000, logger: quiet });
  await whenReady(client, 10_000, 'fill');
  const producer = new JobProducer({ client, prefix: PREFIX, timeout: 60_000 });
  const inspector = new QueueInspector(client, PREFIX);
  const payload = (i: number) => ({ to: `user${i}@example.com`, template: 'welcome', locale: 'en' });

  say(`dead-lettering ${DEAD} jobs through a worker`);
  for (let i = 0; i < DEAD; i += 10_000) {
    await producer.enqueueMany(QUEUE, Array.from({ length: Math.min(10_000, DEAD - i) }, (_, j) => ({ payload: payload(i + j) })));
  }
  const workerClient = createClient(url, { role: 'worker', name: 'fill-worker', commandTimeout: 60_000, logger: quiet });
  const hub = new PubSub({ connection: url, name: 'fill-notify', logger: quiet });
  const worker = new QueueWorker({
    queue: QUEUE,
    prefix: PREFIX,
    client: workerClient,
    notifications: hub,
    concurrency: 1000,
    leaseMs: 30_000,
    defaults: { attempts: 1, backoff: { type: 'fixed', delay: 10 } },
    logger: quiet,
    process: (p) => {
      throw new PermanentJobError(`550 5.1.1 <${(p as { to: string }).to}>: mailbox unavailable`);
    },
  });
  worker.start();
  while ((await inspector.counts(QUEUE)).dead < DEAD) await new Promise((r) => setTimeout(r, 200));
  await worker.stop(5000);
  await hub.close();
  await closeClient(workerClient);

  say(`enqueuing ${READY} ready jobs`);
  const t0 = performance.now();
  for (let i = 0; i < READY; i += 100_000) {
    await producer.enqueueMany(QUEUE, Array.from({ length: Math.min(100_000, READY - i) }, (_, j) => ({ payload: payload(DEAD + i + j) })));
  }
  say(`enqueued in ${round((performance.now() - t0) / 1000)} s; counts ${JSON.stringify(await inspector.counts(QUEUE))}`);
  await closeClient(client);
}

async function main(): Promise<void> {
  const server = await RedisServer.start({ args: ['--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'] });
  try {
    await fill(server.url);
    const admin = new Redis(server.url);
    const memory = /used_memory:(\d+)/.exec(await admin.info('memory'))![1];
    admin.disconnect();

    @Module({
      imports: [
        RedisQueueModule.forRoot({ connection: server.url, prefix: PREFIX, consumers: false, checkRedisConfig: false }),
        RedisQueueDashboardModule.forRoot({ path: 'queues' }),
      ],
    })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: ['error'] });
    await app.listen(0, '127.0.0.1');
    const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/queues`;
    const api = async (path: string) => {
      const response = await fetch(base + path);
      if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
      return response.json() as Promise<unknown>;
    };
    const post = async (path: string, body: unknown) => {
      const response = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-rq-dashboard': '1' }, body: JSON.stringify(body) });
      if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    };
    const deadPage = (await api('/api/queues/big/jobs?state=dead&limit=1')) as { jobs: Array<{ id: string }> };
    const deadId = deadPage.jobs[0].id;
    const last = (n: number) => Math.max(0, n - 25);

    say('timing the dashboard API');
    const rows: Row[] = [];
    rows.push(await timed('GET / (the page)', async () => (await fetch(base)).text()));
    rows.push(await timed('GET api/snapshot (overview, sidebar, live update: every queue, 60 min of throughput, workers)', () => api('/api/snapshot')));
    rows.push(await timed('GET api/queues/big/jobs?state=ready (first page of 25)', () => api('/api/queues/big/jobs?state=ready&limit=25')));
    rows.push(await timed('GET api/queues/big/jobs?state=ready, middle page (offset 500,000)', () => api(`/api/queues/big/jobs?state=ready&offset=${Math.floor(READY / 2)}&limit=25`)));
    rows.push(await timed('GET api/queues/big/jobs?state=ready, last page', () => api(`/api/queues/big/jobs?state=ready&offset=${last(READY)}&limit=25`)));
    rows.push(await timed('GET api/queues/big/jobs?state=dead (first page of 25)', () => api('/api/queues/big/jobs?state=dead&limit=25')));
    rows.push(await timed('GET api/queues/big/jobs?state=dead, last page', () => api(`/api/queues/big/jobs?state=dead&offset=${last(DEAD)}&limit=25`)));
    rows.push(await timed('GET api/queues/big/jobs/<id> (a dead job by id)', () => api(`/api/queues/big/jobs/${deadId}`)));
    rows.push(await timed('GET api/activity', () => api('/api/activity')));
    const ids = ((await api('/api/queues/big/jobs?state=dead&offset=1000&limit=125')) as { jobs: Array<{ id: string }> }).jobs.map((j) => j.id);
    let batch = 0;
    rows.push(await timed('POST retry of 25 selected dead jobs', () => post('/api/queues/big/dead/retry', { ids: ids.slice(batch * 25, ++batch * 25) })));

    say(`timing the CLI: wall time of ${CLI.length === 1 ? 'the built binary' : 'the source through the TypeScript loader (npm run build:lib first for the built binary)'}, Node's start included`);
    rows.push(await timed('rq --version (start-up alone)', () => cli(server.url, ['--version'])));
    rows.push(await timed('rq status', () => cli(server.url, ['status'])));
    rows.push(await timed('rq jobs big --offset <last page>', () => cli(server.url, ['jobs', QUEUE, '--offset', String(last(READY))])));
    rows.push(await timed('rq dead big --offset <last page>', () => cli(server.url, ['dead', QUEUE, '--offset', String(last(DEAD))])));
    rows.push(await timed('rq job big <dead id>', () => cli(server.url, ['job', QUEUE, deadId])));
    await app.close();

    const width = Math.max(...rows.map((r) => r.what.length));
    const lines = [
      `queue "${QUEUE}": ${READY.toLocaleString('en-US')} ready + ${DEAD.toLocaleString('en-US')} dead jobs; Redis used_memory ${(Number(memory) / 1024 / 1024).toFixed(0)} MiB; ${RUNS} runs each`,
      `${'call'.padEnd(width)}  median ms  max ms`,
      ...rows.map((r) => `${r.what.padEnd(width)}  ${String(r.medianMs).padStart(9)}  ${String(r.maxMs).padStart(6)}`),
    ];
    const api_ = rows.filter((r) => !r.what.startsWith('rq '));
    const slowest = api_.reduce((a, b) => (b.maxMs > a.maxMs ? b : a));
    lines.push(`slowest dashboard call: ${slowest.what}: ${slowest.maxMs} ms (max of ${RUNS})`);
    process.stdout.write(`${lines.join('\n')}\n${JSON.stringify({ ready: READY, dead: DEAD, rows })}\n`);
  } finally {
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    say(`failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
