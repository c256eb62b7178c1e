import { CanActivate, ExecutionContext, Injectable, Module } from '@nestjs/common';
import { RedisQueueDashboardModule } from 'nestjs-redis-queue/dashboard';
import { JobContext, PermanentJobError, QueueHandler } from 'nestjs-redis-queue';
import { DashboardApp, Platform, startDashboardApp } from './support/dashboard-app.js';
import { uniquePrefix, waitFor } from './support/helpers.js';
import { QueueApp, startQueueApp } from './support/queue-app.js';

process.env.OPS_TOKEN = 'open-sesame';
const alice = { 'x-ops-token': 'alice:open-sesame' };
const action = { ...alice, 'x-rq-dashboard': '1', 'content-type': 'application/json' };

const fixed = new Set<string>();

@Injectable()
class Handlers {
  @QueueHandler('dash-email', { attempts: 1 })
  async send(payload: { to: string }, _job: JobContext) {
    if (payload.to.startsWith('bounce') && !fixed.has(payload.to)) throw new PermanentJobError(`550 mailbox unavailable: ${payload.to}`);
  }
}

async function get(base: string, path: string, headers: Record<string, string> = alice) {
  const response = await fetch(base + path, { headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
}

async function post(base: string, path: string, body: unknown = {}, headers: Record<string, string> = action) {
  const response = await fetch(base + path, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

describe.each<Platform>(['express', 'fastify'])('the dashboard on %s', (platform) => {
  let worker: QueueApp;
  let dash: DashboardApp;
  let readOnly: DashboardApp;
  let base: string;
  const prefix = uniquePrefix('dash');

  beforeAll(async () => {
    worker = await startQueueApp([Handlers], { prefix });
    dash = await startDashboardApp(platform, prefix);
    readOnly = await startDashboardApp(platform, prefix, { readOnly: true });
    base = `${dash.url}/queues`;
    for (const to of ['ada@example.com', `bounce-1@${platform}.example.com`, `bounce-2@${platform}.example.com`]) await worker.producer.enqueue('dash-email', { to });
    await waitFor(async () => (await worker.inspector.counts('dash-email')).dead === 2, 10_000, 'two dead jobs');
  });
  afterAll(async () => {
    await dash?.close();
    await readOnly?.close();
    await worker?.close();
  });

  it('refuses every route without the guard: page, assets, API and actions get 403', async () => {
    for (const path of ['', '/assets/app.js', '/assets/dashboard.css', '/api/snapshot', '/api/events', '/api/queues/dash-email/jobs?state=dead']) {
      expect({ path, status: (await get(base, path, {})).status }).toEqual({ path, status: 403 });
    }
    expect((await get(base, '/api/snapshot', { 'x-ops-token': 'alice:wrong-token' })).status).toBe(403);
    expect((await post(base, '/api/queues/dash-email/pause', {}, { 'x-rq-dashboard': '1' })).status).toBe(403);
    expect((await worker.inspector.overview('dash-email')).paused).toBe(false);
  });

  it('serves the page and its assets from the package, with no network: relative to where it is mounted', async () => {
    // Fastify routes /queues/ apart from /queues unless the app sets ignoreTrailingSlash; Express takes both.
    if (platform === 'express') expect((await get(base, '/')).status).toBe(200);
    const page = await get(base, '');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'; script-src 'self'");
    expect(page.text).toContain('<base href="/queues/">');
    for (const asset of ['app.js', 'views.js', 'chart.js', 'api.js', 'dom.js', 'dashboard.css', 'favicon.svg']) {
      const file = await get(base, `/assets/${asset}`);
      expect({ asset, status: file.status }).toEqual({ asset, status: 200 });
      // Nothing loaded from elsewhere (a CDN, a font service): every URL is relative.
      expect({ asset, remote: /\b(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i.test(file.text.replace(/http:\/\/www\.w3\.org\/2000\/svg/g, '')) }).toEqual({ asset, remote: false });
    }
    expect((await get(base, '/assets/app.js')).headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await get(base, '/assets/..%2Fdashboard.service.ts')).status).toBe(404);
    expect((await get(base, '/assets/index.html')).status).toBe(404);
  });

  it('reads queues, pages of jobs and one job; bad input is a 400 naming the field, an unknown job a 404', async () => {
    const snapshot = (await get(base, '/api/snapshot')).json();
    expect(snapshot.queues).toEqual([expect.objectContaining({ queue: 'dash-email', counts: { ready: 0, delayed: 0, active: 0, dead: 2 }, paused: false })]);
    expect(snapshot.queues[0].throughput).toHaveLength(60);
    expect(snapshot.workers).toEqual([expect.objectContaining({ pid: process.pid })]);

    const dead = (await get(base, '/api/queues/dash-email/jobs?state=dead&limit=1')).json();
    expect(dead).toMatchObject({ total: 2, jobs: [{ state: 'dead', error: { name: 'PermanentJobError' } }] });
    const job = (await get(base, `/api/queues/dash-email/jobs/${dead.jobs[0].id}`)).json();
    expect(job).toMatchObject({ id: dead.jobs[0].id, state: 'dead', payload: { to: `bounce-2@${platform}.example.com` }, error: { message: `550 mailbox unavailable: bounce-2@${platform}.example.com` } });
    expect(job.error.stack).toContain('PermanentJobError');

    expect((await get(base, '/api/queues/dash-email/jobs/nope')).status).toBe(404);
    const badState = await get(base, '/api/queues/dash-email/jobs?state=lost');
    expect(badState.status).toBe(400);
    expect(badState.json().message).toBe('state must be one of ready, delayed, active, dead, completed (got "lost")');
    expect((await get(base, '/api/queues/dash-email/jobs?limit=-1')).status).toBe(400);
    const badQueue = await get(base, '/api/queues/bad%20queue/jobs');
    expect(badQueue.status).toBe(400);
    expect(badQueue.json().message).toMatch(/^Invalid option "queue"/);
    expect((await get(base, '/api/config')).json()).toMatchObject({ readOnly: false, actor: 'alice', prefix });
  });

  it('acts with who did it: logged, kept in the activity log; actions without the dashboard header are refused', async () => {
    const [first, second] = (await get(base, '/api/queues/dash-email/jobs?state=dead')).json().jobs as Array<{ id: string }>;
    expect((await post(base, '/api/queues/dash-email/dead/retry', { ids: [first.id] }, { ...alice, 'content-type': 'application/json' })).status).toBe(403);
    expect((await post(base, '/api/queues/dash-email/dead/retry', { ids: 'all' })).status).toBe(400);

    fixed.add(`bounce-2@${platform}.example.com`);
    expect(await post(base, '/api/queues/dash-email/dead/retry', { ids: [first.id] })).toEqual({ status: 200, json: { count: 1 } });
    await waitFor(async () => (await worker.inspector.counts('dash-email')).dead === 1, 10_000, 'the retried job to complete');
    expect(await post(base, '/api/queues/dash-email/dead/remove', { all: true })).toEqual({ status: 200, json: { count: 1 } });
    expect(await post(base, '/api/queues/dash-email/pause')).toEqual({ status: 200, json: { changed: true } });
    expect((await worker.inspector.overview('dash-email')).paused).toBe(true);
    expect(await post(base, '/api/queues/dash-email/resume')).toEqual({ status: 200, json: { changed: true } });

    const delayed = await worker.producer.enqueue('dash-email', { to: 'later@example.com' }, { delay: 3_600_000, track: true });
    const doomed = await worker.producer.enqueue('dash-email', { to: 'never@example.com' }, { delay: 3_600_000, track: true });
    expect(await post(base, `/api/queues/dash-email/jobs/${delayed}/promote`)).toEqual({ status: 200, json: { promoted: true } });
    expect(await post(base, `/api/queues/dash-email/jobs/${doomed}/cancel`)).toEqual({ status: 200, json: { outcome: 'removed', state: 'delayed' } });
    expect((await post(base, `/api/queues/dash-email/jobs/${doomed}/promote`)).status).toBe(404);

    // Nest's Logger is process-wide: the last app created took it over; both apps log through it.
    const log = readOnly.logger.lines.filter((l) => l.startsWith('RedisQueueDashboard: Dashboard: alice'));
    expect(log).toEqual([
      `RedisQueueDashboard: Dashboard: alice retry job(s) ${first.id} of "dash-email": retried 1 dead job(s)`,
      'RedisQueueDashboard: Dashboard: alice remove all dead jobs of "dash-email": removed 1 dead job(s)',
      'RedisQueueDashboard: Dashboard: alice pause queue "dash-email": paused',
      'RedisQueueDashboard: Dashboard: alice resume queue "dash-email": resumed',
      `RedisQueueDashboard: Dashboard: alice promote job(s) ${delayed} of "dash-email": runs now`,
      `RedisQueueDashboard: Dashboard: alice cancel job(s) ${doomed} of "dash-email": removed`,
      `RedisQueueDashboard: Dashboard: alice promote job(s) ${doomed} of "dash-email": failed: Job ${doomed} of queue "dash-email" is not delayed`,
    ]);
    const activity = (await get(base, '/api/activity')).json();
    expect(activity.map((e: { actor: string; action: string }) => `${e.actor} ${e.action}`)).toEqual(
      expect.arrayContaining(['alice cancel', 'alice promote', 'alice resume', 'alice pause', 'alice remove', 'alice retry']),
    );
    expect(activity[0]).toMatchObject({ actor: 'alice', source: 'dashboard', action: 'cancel', queue: 'dash-email', ids: [doomed], ip: '127.0.0.1' });
    expect(second).toBeDefined();
  });

  it('read-only: the server refuses every action with 403 and the reason; reads work', async () => {
    const roBase = `${readOnly.url}/queues`;
    expect((await get(roBase, '/api/config')).json()).toMatchObject({ readOnly: true });
    for (const path of ['/api/queues/dash-email/pause', '/api/queues/dash-email/resume', '/api/queues/dash-email/dead/retry', '/api/queues/dash-email/dead/remove', '/api/queues/dash-email/jobs/1/cancel', '/api/queues/dash-email/jobs/1/promote']) {
      const refused = await post(roBase, path, { all: true });
      expect({ path, refused }).toEqual({ path, refused: { status: 403, json: expect.objectContaining({ message: 'The dashboard is read-only: actions are refused (option "readOnly")' }) } });
    }
    expect((await worker.inspector.overview('dash-email')).paused).toBe(false);
    expect((await get(roBase, '/api/snapshot')).status).toBe(200);
    expect(readOnly.logger.lines).toContain('RedisQueueDashboard: Dashboard: alice pause queue "dash-email": refused (read-only)');
  });

  it('streams live snapshots over server-sent events', async () => {
    const abort = new AbortController();
    const response = await fetch(`${base}/api/events`, { headers: alice, signal: abort.signal });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.getReader();
    let text = '';
    const decoder = new TextDecoder();
    while ((text.match(/event: snapshot/g) ?? []).length < 2) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    abort.abort();
    const data = JSON.parse(/event: snapshot\nid: \d+\ndata: (.*)\n/.exec(text)![1]);
    expect(data.queues.map((q: { queue: string }) => q.queue)).toEqual(['dash-email']);
  });
});

@Injectable()
class TokenStore {
  readonly token = 'from-the-auth-module';
}

@Module({ providers: [TokenStore], exports: [TokenStore] })
class AuthModule {}

/** A guard with a dependency: resolved from the modules given as `imports`. */
@Injectable()
class StoreGuard implements CanActivate {
  constructor(private readonly store: TokenStore) {}
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers['x-token'] === this.store.token;
  }
}

describe('the dashboard with guards of the app', () => {
  it('resolves guard classes with their dependencies from `imports`, and takes guard instances', async () => {
    const withClass = await startDashboardApp('express', uniquePrefix('dash'), { guards: [StoreGuard], imports: [AuthModule] });
    const withInstance = await startDashboardApp('express', uniquePrefix('dash'), { guards: [{ canActivate: () => false }] });
    try {
      expect((await get(`${withClass.url}/queues`, '/api/config', { 'x-token': 'from-the-auth-module' })).status).toBe(200);
      expect((await get(`${withClass.url}/queues`, '/api/config', { 'x-token': 'guess' })).status).toBe(403);
      expect((await get(`${withInstance.url}/queues`, '/api/config')).status).toBe(403);
    } finally {
      await withClass.close();
      await withInstance.close();
    }
  });

  it('refuses options it does not know, naming them', () => {
    expect(() => RedisQueueDashboardModule.forRoot({ gaurds: [] } as never)).toThrow('Invalid option "gaurds": is not a dashboard option');
    expect(() => RedisQueueDashboardModule.forRoot({ refreshInterval: 5 })).toThrow('Invalid option "refreshInterval"');
    expect(() => RedisQueueDashboardModule.forRoot({ guards: ['nope' as never] })).toThrow('Invalid option "guards"');
  });
});

describe('the dashboard under a global prefix', () => {
  it('answers at /<prefix>/<path>/ and its page links there', async () => {
    const dash = await startDashboardApp('express', uniquePrefix('dash'), {}, (app) => app.setGlobalPrefix('admin'));
    try {
      const page = await get(`${dash.url}/admin/queues`, '');
      expect(page.status).toBe(200);
      expect(page.text).toContain('<base href="/admin/queues/">');
      expect((await get(`${dash.url}/admin/queues`, '/api/snapshot')).status).toBe(200);
    } finally {
      await dash.close();
    }
  });
});
