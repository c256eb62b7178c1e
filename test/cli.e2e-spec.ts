import { Injectable } from '@nestjs/common';
import { readFileSync } from 'fs';
import { hostname, userInfo } from 'os';
import { ActivityLog } from '../libs/redis-queue/src/engine/index.js';
import { JobContext, PermanentJobError, QueueAdmin as QueueAdminToken, QueueHandler } from 'nestjs-redis-queue';
import { freePort } from 'nestjs-redis-queue/testing';
import { rq } from './support/cli.js';
import { rawClient, redisUrl, waitFor } from './support/helpers.js';
import { QueueApp, startQueueApp } from './support/queue-app.js';

const mailbox = { fixed: false };
const delivered: string[] = [];

@Injectable()
class Handlers {
  @QueueHandler('cli-email', { concurrency: 4, attempts: 1 })
  async send(payload: { to: string }, _job: JobContext) {
    if (payload.to.endsWith('@bounce.example.com') && !mailbox.fixed) throw new PermanentJobError(`550 mailbox unavailable: ${payload.to}`);
    delivered.push(payload.to);
  }
}

describe('rq (the CLI)', () => {
  let q: QueueApp;
  let env: Record<string, string>;
  const deadIds: string[] = [];

  beforeAll(async () => {
    q = await startQueueApp([Handlers]);
    env = { REDIS_URL: redisUrl(), RQ_PREFIX: q.prefix };
    for (const to of ['ada@example.com', 'nobody@bounce.example.com', 'grace@example.com', 'nemo@bounce.example.com']) {
      const id = await q.producer.enqueue('cli-email', { to });
      if (to.includes('bounce')) deadIds.push(id);
    }
    await q.producer.enqueueMany('cli-reports', Array.from({ length: 5 }, (_, i) => ({ payload: { report: i } })));
    await waitFor(async () => (await q.inspector.counts('cli-email')).dead === 2 && delivered.length === 2, 10_000, 'two dead, two delivered');
  });
  afterAll(() => q.close());

  it('status: every queue with its counts, rates, workers and state, as a table or JSON', async () => {
    await waitFor(async () => (await q.app.get(QueueAdminToken).workers()).length === 1, 10_000, 'the worker heartbeat');
    const table = await rq(['status'], env);
    expect(table).toMatchObject({ code: 0, stderr: '' });
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^QUEUE\s+READY\s+DELAYED\s+ACTIVE\s+DEAD\s+DONE\/MIN\s+FAILED\/MIN\s+WORKERS\s+STATE$/);
    expect(lines[1]).toMatch(/^cli-email\s+0\s+0\s+0\s+2\s+[\d.]+\s+[\d.]+\s+1\s+running$/);
    expect(lines[2]).toMatch(/^cli-reports\s+5\s+0\s+0\s+0\s+0\s+0\s+0\s+running$/);
    // The README quotes this table: same columns.
    const columns = lines[0].split(/\s+/).join(' ');
    expect(readFileSync('README.md', 'utf8').split('\n').map((l) => l.trim().split(/\s+/).join(' '))).toContain(columns);

    const json = await rq(['status', '--json'], env);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({ queue: 'cli-email', ready: 0, dead: 2, paused: false, workers: 1 }),
      expect.objectContaining({ queue: 'cli-reports', ready: 5, dead: 0, workers: 0 }),
    ]);
  });

  it('jobs, dead and job: pages of a state and one job with its error and stack', async () => {
    const ready = await rq(['jobs', 'cli-reports', '--limit', '2', '--offset', '1'], env);
    expect(ready.code).toBe(0);
    expect(ready.stdout).toMatch(/^ID\s+ATTEMPTS\s+ENQUEUED\s+PAYLOAD\n2\s+0\s+\d+ (ms|s) ago\s+\{"report":1\}\n3 .*\n2-3 of 5 ready jobs in queue "cli-reports"\n$/);

    const dead = JSON.parse((await rq(['dead', 'cli-email', '--json'], env)).stdout);
    expect(dead.total).toBe(2);
    expect(dead.jobs.map((j: { id: string }) => j.id)).toEqual([...deadIds].reverse());
    expect(dead.jobs[0].error).toEqual({ name: 'PermanentJobError', message: '550 mailbox unavailable: nemo@bounce.example.com' });

    const one = await rq(['job', 'cli-email', deadIds[0]], env);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(new RegExp(`^id: +${deadIds[0]}\nqueue: +cli-email\nstate: +dead\n`));
    expect(one.stdout).toContain('error:    PermanentJobError: 550 mailbox unavailable: nobody@bounce.example.com');
    expect(one.stdout).toContain('"to": "nobody@bounce.example.com"');
    expect(one.stdout).toContain('stack:\nPermanentJobError: 550 mailbox unavailable: nobody@bounce.example.com\n');

    const missing = await rq(['job', 'cli-email', '9999'], env);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toBe('rq: no job "9999" in queue "cli-email" (dead jobs are always found; others only when tracked: enqueue option "track")\n');
  });

  it('retry runs a dead job again; remove --all empties the dead-letter set', async () => {
    mailbox.fixed = true;
    const retried = await rq(['retry', 'cli-email', deadIds[0]], env);
    expect(retried).toMatchObject({ code: 0, stdout: 'retried 1 dead job(s) of queue "cli-email"\n' });
    await waitFor(() => delivered.includes('nobody@bounce.example.com'), 10_000, 'the retried job to complete');

    expect(await rq(['retry', 'cli-email'], env)).toMatchObject({ code: 2, stderr: 'rq retry: give job ids, or --all for every dead job of the queue\n' });
    const notDead = await rq(['retry', 'cli-email', deadIds[0]], env);
    expect(notDead).toMatchObject({ code: 1, stderr: 'rq: only 0 of the 1 job(s) given were in the dead-letter set\n' });

    const removed = await rq(['remove', 'cli-email', '--all', '--json'], env);
    expect(JSON.parse(removed.stdout)).toEqual({ queue: 'cli-email', removed: 1 });
    expect((await q.inspector.counts('cli-email')).dead).toBe(0);

    // The actions are in the activity log the dashboard shows, with who ran them.
    const redis = rawClient();
    const activity = await new ActivityLog(redis, q.prefix).list(10);
    redis.disconnect();
    expect(activity.map((e) => `${e.action}: ${e.outcome}`)).toEqual(['remove: removed 1 dead job(s)', 'retry: retried 0 dead job(s)', 'retry: retried 1 dead job(s)']);
    expect(activity[0]).toMatchObject({ source: 'cli', actor: `${userInfo().username}@${hostname()}`, queue: 'cli-email', all: true });
    expect(activity[2]).toMatchObject({ ids: [deadIds[0]] });
  });

  it('pause and resume, cancel and promote steer the queue for every worker', async () => {
    expect(await rq(['pause', 'cli-reports'], env)).toMatchObject({ code: 0, stdout: 'paused queue "cli-reports"\n' });
    expect((await rq(['status'], env)).stdout).toMatch(/cli-reports .* paused\n/);
    expect(await rq(['resume', 'cli-reports'], env)).toMatchObject({ code: 0, stdout: 'resumed queue "cli-reports"\n' });
    expect(await rq(['resume', 'cli-reports'], env)).toMatchObject({ code: 0, stdout: 'queue "cli-reports" was not paused\n' });

    const later = await q.producer.enqueue('cli-reports', { report: 'later' }, { delay: 3_600_000, track: true });
    const other = await q.producer.enqueue('cli-reports', { report: 'now' }, { delay: 3_600_000, track: true });
    expect(await rq(['cancel', 'cli-reports', later], env)).toMatchObject({ code: 0, stdout: `job ${later} cancelled: it will not run\n` });
    expect((await q.inspector.job('cli-reports', later))?.state).toBe('cancelled');
    expect(await rq(['cancel', 'cli-reports', 'nope'], env)).toMatchObject({ code: 1 });

    expect(await rq(['promote', 'cli-reports', other], env)).toMatchObject({ code: 0, stdout: `job ${other} of queue "cli-reports" runs now\n` });
    expect((await q.inspector.job('cli-reports', other))?.state).toBe('ready');
  });

  it('schedules and workers list what the registry and the schedules hash hold', async () => {
    expect(await rq(['schedules'], env)).toMatchObject({ code: 0, stdout: 'no schedules\n' });
    const redis = rawClient();
    const next = Date.now() + 3 * 3_600_000;
    await redis.hset(`${q.prefix}:{cli-reports}:schedules`, 'nightly', JSON.stringify({ name: 'nightly', cron: '0 3 * * *', tz: 'Europe/Paris', next, source: 'api', missed: 'skip', payload: '{}' }));
    redis.disconnect();
    const list = await rq(['schedules'], env);
    expect(list.stdout).toMatch(/^QUEUE\s+NAME\s+WHEN\s+NEXT RUN\s+LAST RUN\s+SOURCE\ncli-reports\s+nightly\s+cron 0 3 \* \* \* \(Europe\/Paris\)\s+in 3 h\s+-\s+api\n$/);

    const workers = await rq(['workers', '--json'], env);
    expect(JSON.parse(workers.stdout)).toEqual([expect.objectContaining({ pid: process.pid, queues: [{ queue: 'cli-email', concurrency: 4 }] })]);
  });

  it('watch refreshes the status (one JSON line per refresh with --json)', async () => {
    const watched = await rq(['watch', '--interval', '100', '--count', '3', '--json'], env);
    expect(watched.code).toBe(0);
    const frames = watched.stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(frames).toHaveLength(3);
    expect(frames[2].queues.map((s: { queue: string }) => s.queue)).toEqual(['cli-email', 'cli-reports']);
    const human = await rq(['watch', '--interval', '100', '--count', '2'], env);
    expect(human.stdout.match(/^QUEUE +READY/gm)).toHaveLength(2);
  });

  it('bad arguments exit with 2, an unreachable Redis with 3, each with a clear message', async () => {
    const unknown = await rq(['frob'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error: unknown command 'frob'");
    expect((await rq(['jobs', 'cli-email', '--state', 'lost'], env)).stderr).toBe('--state must be one of ready, delayed, active, dead, completed (got "lost")\n');
    expect((await rq(['jobs', 'bad queue!'], env)).code).toBe(2);
    const port = await freePort();
    const down = await rq(['status', '--timeout', '300'], { ...env, REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(new RegExp(`^rq: cannot reach Redis at redis://127.0.0.1:${port}: .*ECONNREFUSED.*--timeout bounds this wait\\n$`));
  });
});
