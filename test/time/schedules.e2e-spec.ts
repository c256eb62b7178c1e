// Schedules in one process: the job each tick produces, the compare-and-set that makes it one per tick,
// changing and removing schedules, validation, and deploy-time overrides.
import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { InvalidOptionError, JobContext, QueueHandler, RedisQueueError } from 'nestjs-redis-queue';
import { encodePayload, encodeTail } from '../../libs/redis-queue/src/engine/codec.js';
import { notifyChannel, queueKeyList, queueKeys } from '../../libs/redis-queue/src/engine/keys.js';
import { parseSchedule, ScheduleStore } from '../../libs/redis-queue/src/engine/schedules.js';
import { packArgs, withScripts } from '../../libs/redis-queue/src/engine/scripts.js';
import { deferred, rawClient, sleep, uniquePrefix, waitFor } from '../support/helpers.js';
import { QueueApp, startQueueApp } from '../support/queue-app.js';

interface Seen {
  id: string;
  attempt: number;
  maxAttempts: number;
  priority: number | undefined;
  payload: unknown;
  startedAt: number;
}
const seen: Seen[] = [];

@Injectable()
class Reports {
  @QueueHandler('report', { concurrency: 4 })
  run(payload: unknown, job: JobContext) {
    seen.push({ id: job.id, attempt: job.attempt, maxAttempts: job.maxAttempts, priority: job.priority, payload, startedAt: Date.now() });
    return { done: job.id };
  }
}

const ranFor = (name: string) => seen.filter((s) => s.id.startsWith(`${name}@`));
const tickOf = (id: string) => Number(id.slice(id.lastIndexOf('@') + 1));

const apps: QueueApp[] = [];
async function app(...args: Parameters<typeof startQueueApp>): Promise<QueueApp> {
  const started = await startQueueApp(...args);
  apps.push(started);
  return started;
}

/**
 * Resolves once the app listens on the queue's channel: a schedule stored before that is not heard of
 * by an app that already read the schedules (see scheduler-races.e2e-spec.ts); these tests store theirs after.
 */
async function listening(redis: Redis, q: QueueApp, queue: string): Promise<void> {
  const channel = notifyChannel(q.prefix, queue);
  await waitFor(async () => ((await redis.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1] > 0, 10_000, 'the subscription');
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

describe('schedules', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = rawClient();
  });
  afterAll(() => redis.quit());

  it('each tick enqueues one job ahead, id "name@tick", delayed until its tick (never early), with the payload and options of the schedule', async () => {
    const q = await app([Reports], { prefix: uniquePrefix('sched-job') });
    await listening(redis, q, 'report');
    // Early in a 2 s interval, so that the listing below most likely comes before the first tick fires.
    await waitFor(() => Date.now() % 2000 > 50 && Date.now() % 2000 < 400, 10_000, 'the start of a 2 s interval');
    const createdAt = Date.now();
    await q.producer.schedule('report', 'summary', { every: 2000, payload: { kind: 'summary' }, options: { attempts: 2, priority: 2, track: true } });
    await q.producer.schedule('report', 'paris-8am', { cron: '0 8 * * *', timeZone: 'Europe/Paris' });
    const [paris, summary] = await q.inspector.schedules('report');
    expect(paris).toEqual({
      queue: 'report',
      name: 'paris-8am',
      cron: '0 8 * * *',
      timeZone: 'Europe/Paris',
      nextRunAt: expect.any(Date),
      source: 'api',
      missed: 'once',
    });
    // 08:00 in Paris is 06:00 or 07:00 UTC, on the next such moment.
    expect([6, 7]).toContain(paris.nextRunAt!.getUTCHours());
    expect(paris.nextRunAt!.getTime() - createdAt).toBeLessThanOrEqual(86_400_000 + 3_600_000);
    // The first tick: the next one, or (on a slow machine) the one that already fired, its job enqueued ahead.
    const first = summary.lastRunAt?.getTime() ?? summary.nextRunAt!.getTime();
    expect(summary).toEqual({
      queue: 'report',
      name: 'summary',
      every: 2000,
      nextRunAt: new Date(summary.lastRunAt ? first + 2000 : first),
      ...(summary.lastRunAt ? { lastRunAt: new Date(first) } : {}),
      source: 'api',
      missed: 'once',
    });
    expect(first % 2000).toBe(0);
    expect(first).toBeGreaterThan(createdAt);

    // Before its tick, the job waits in the delayed set, due at the tick.
    const id = `summary@${first}`;
    const waiting = await waitFor(async () => (await q.inspector.jobs('report', 'delayed')).jobs.find((j) => j.id === id), 10_000, 'the tick job enqueued ahead');
    expect(waiting).toMatchObject({ id, state: 'delayed', at: new Date(first), payload: { kind: 'summary' }, priority: 2 });
    expect((await q.inspector.schedules('report'))[1]).toMatchObject({ lastRunAt: new Date(first), nextRunAt: new Date(first + 2000) });

    await waitFor(() => ranFor('summary').length >= 2, 15_000, 'two ticks');
    const [a, b] = ranFor('summary');
    expect(a).toEqual({ id, attempt: 1, maxAttempts: 2, priority: 2, payload: { kind: 'summary' }, startedAt: expect.any(Number) });
    expect(a.startedAt).toBeGreaterThanOrEqual(first);
    expect(b.id).toBe(`summary@${first + 2000}`);
    expect(b.startedAt).toBeGreaterThanOrEqual(first + 2000);
    await waitFor(async () => (await q.inspector.job('report', id))?.state === 'completed', 10_000, 'the first tick job to complete');
    expect(await q.inspector.job('report', id)).toMatchObject({ state: 'completed', result: { done: id } });
  });

  // BUG (schedule.lua fire): the tick job is staged with `stageJob(batch, id, A.tail, delay, 0)`, a
  // tracking retention of 0 whatever the schedule's `options.track` says, so while it waits for its tick
  // it has no tracked entry: job() returns undefined and cancel() says not-found (it becomes findable only
  // once claimed, from its record's extension). Expected: state 'delayed' with runAt = the tick, as for any
  // tracked delayed job.
  it('a tracked schedule (options.track) shows its tick job as delayed in job() before the tick', async () => {
    const q = await app([Reports], { prefix: uniquePrefix('sched-tracked') });
    await listening(redis, q, 'report');
    await q.producer.schedule('report', 'tracked', { every: 2000, options: { track: true } });
    const listed = await waitFor(async () => (await q.inspector.schedules('report')).find((s) => s.lastRunAt), 10_000, 'a tick enqueued ahead');
    const tick = listed.lastRunAt!.getTime();
    const delayed = (await q.inspector.jobs('report', 'delayed')).jobs.some((j) => j.id === `tracked@${tick}`);
    const info = await q.inspector.job('report', `tracked@${tick}`);
    // Asked while it still waited (else this run proves nothing and fails on the first expectation).
    expect(delayed).toBe(true);
    expect(info).toMatchObject({ state: 'delayed', runAt: new Date(tick), tracked: true });
  });

  it('schedule.lua fires a tick once however many instances ask at the same moment, and never an old tick again', async () => {
    const prefix = uniquePrefix('sched-cas');
    const store = new ScheduleStore(redis, prefix);
    expect(await store.upsert('report', 'cas', parseSchedule({ every: 60_000 }, 'api'))).toBe(true);
    const stored = JSON.parse((await redis.hget(queueKeys(prefix, 'report').schedules, 'cas'))!) as { next: number };
    const tick = stored.next;
    const tail = encodeTail(encodePayload(null), {}, undefined, { schedule: 'cas' });
    // Twelve "instances", each on its own connection, fire the same tick at once.
    const instances = Array.from({ length: 12 }, () => withScripts(rawClient()));
    const fire = (client: (typeof instances)[number], at: number) =>
      client.rqSchedule(...queueKeyList(prefix, 'report'), packArgs(client, { op: 'fire', name: 'cas', tick: at, next: at + 60_000, tail, skip: false }));
    try {
      const replies = await Promise.all(instances.map((client) => fire(client, tick)));
      expect(replies.filter((r) => r === 1)).toHaveLength(1);
      const delayed = await redis.zrange(queueKeys(prefix, 'report').delayed, 0, -1);
      expect(delayed).toHaveLength(1);
      expect(delayed[0].startsWith(`cas@${tick}`)).toBe(true);
      // A late instance firing the tick it had armed: the schedule moved on, nothing happens.
      expect(await fire(instances[0], tick)).toBe(0);
      expect(await redis.zcard(queueKeys(prefix, 'report').delayed)).toBe(1);
    } finally {
      instances.forEach((client) => client.disconnect());
    }
  });

  // BUG (schedule.lua): a schedule remembers only its latest job enqueued ahead (`pending`), so remove (and
  // prune, and an upsert that changes it) drops only that one. Two tick jobs can wait at once when a tick's
  // lead (half the interval *after* it, at most 5 s) is longer than the interval before it: with
  // cron '0,1 * * * * *' (seconds 0 and 1 of each minute) the :01 job is enqueued 5 s ahead, while the :00
  // job still waits. Removing the schedule then leaves the :00 job, which runs after the removal, against
  // the script's invariant "a removed schedule leaves no pending job". Expected: both dropped.
  it('removing a schedule drops every job it enqueued ahead, also when two ticks wait at once', async () => {
    const prefix = uniquePrefix('sched-pending');
    const store = new ScheduleStore(redis, prefix);
    await store.upsert('report', 'twice', parseSchedule({ cron: '0,1 * * * * *' }, 'api'));
    const keys = queueKeys(prefix, 'report');
    const { next } = JSON.parse((await redis.hget(keys.schedules, 'twice'))!) as { next: number };
    const client = withScripts(redis);
    const tail = encodeTail(encodePayload(null), {}, undefined, { schedule: 'twice' });
    // As a Scheduler does it: fire the next tick, then (its lead already reached) the one after.
    const fire = (tick: number, after: number) =>
      client.rqSchedule(...queueKeyList(prefix, 'report'), packArgs(client, { op: 'fire', name: 'twice', tick, next: after, tail, skip: false }));
    const second = next + (new Date(next).getUTCSeconds() === 0 ? 1000 : 59_000);
    expect(await fire(next, second)).toBe(1);
    expect(await fire(second, second + 59_000)).toBe(1);
    expect(await redis.zcard(keys.delayed)).toBe(2);
    expect(await store.remove('report', 'twice')).toBe(true);
    expect(await redis.zrange(keys.delayed, 0, -1)).toEqual([]);
  });

  it('an unchanged schedule keeps its next and last run (a restart re-declares it harmlessly); a changed one is recomputed', async () => {
    // A producer-only app: nothing ticks, so what is stored changes only by schedule().
    const q = await app([], { prefix: uniquePrefix('sched-upsert'), consumers: false });
    const stored = async () => (await q.inspector.schedules('report'))[0];
    expect(await q.producer.schedule('report', 'daily', { cron: '0 6 * * *', timeZone: 'Asia/Tokyo', payload: { v: 1 } })).toBe(true);
    const before = await stored();
    expect(await q.producer.schedule('report', 'daily', { cron: '0 6 * * *', timeZone: 'Asia/Tokyo', payload: { v: 1 } })).toBe(false);
    expect(await stored()).toEqual(before);
    expect(await q.producer.schedule('report', 'daily', { cron: '0 7 * * *', timeZone: 'Asia/Tokyo', payload: { v: 1 } })).toBe(true);
    expect((await stored()).nextRunAt!.getTime() - before.nextRunAt!.getTime()).toBe(3_600_000);
    expect(await q.producer.schedule('report', 'daily', { cron: '0 7 * * *', timeZone: 'Asia/Tokyo', payload: { v: 2 } })).toBe(true);
  });

  it('a schedule changed after its next job was enqueued ahead: that job is replaced by one of the new definition', async () => {
    const q = await app([Reports], { prefix: uniquePrefix('sched-change') });
    await listening(redis, q, 'report');
    // Late in a 4 s interval: the next tick is under 2 s away, so its job is enqueued ahead at once.
    await waitFor(() => Date.now() % 4000 > 2100 && Date.now() % 4000 < 2600, 10_000, 'the middle of a 4 s interval');
    await q.producer.schedule('report', 'change', { every: 4000, payload: { v: 1 } });
    const listed = (await q.inspector.schedules('report'))[0];
    const next = listed.lastRunAt?.getTime() ?? listed.nextRunAt!.getTime();
    const id = `change@${next}`;
    await waitFor(async () => (await q.inspector.jobs('report', 'delayed')).jobs.some((j) => j.id === id), 10_000, 'the job enqueued ahead');
    // Past the instance's read right after its fire (a change inside that window stalls the schedule:
    // scheduler-races.e2e-spec.ts).
    await sleep(200);
    if (Date.now() < next - 300) {
      expect(await q.producer.schedule('report', 'change', { every: 4000, payload: { v: 2 } })).toBe(true);
      // Its tick had not come: the tick fires again with the new definition; its job is the only one.
      await waitFor(() => ranFor('change').some((s) => tickOf(s.id) > next), 15_000, 'the following tick');
      expect(ranFor('change').filter((s) => s.id === id)).toEqual([expect.objectContaining({ payload: { v: 2 }, attempt: 1 })]);
      expect(ranFor('change').find((s) => tickOf(s.id) > next)!.payload).toEqual({ v: 2 });
    } else {
      // The machine was too slow to make the change before the tick: this run checks nothing more.
      process.stdout.write('[schedules] the tick came before the change could be made; change-before-tick not checked\n');
    }
  });

  // BUG (schedules.ts Scheduler.arm): a process that already armed a schedule's next tick keeps the
  // definition it read then. arm() returns early when the stored `next` equals the armed tick
  // (`current.tick === s.next`), and the timer's closure still holds the old StoredSchedule, so fire()
  // enqueues the old payload and options (tickTail(s)) and computes the following tick from the old
  // cron/every. An upsert that changes a schedule without changing its next tick (new payload, options,
  // or an every whose grid shares that tick) is ignored for that tick by every running instance.
  // Expected: the tick after the change runs with the new payload.
  it('a schedule changed before its next tick was enqueued runs that tick with the new definition', async () => {
    const q = await app([Reports], { prefix: uniquePrefix('sched-stale') });
    await listening(redis, q, 'report');
    // Start just after a multiple of 4 s: the next tick is ~3.5 s away and is enqueued 2 s ahead of it,
    // so the change below lands while the old definition is armed and before it fires.
    await waitFor(() => Date.now() % 4000 > 100 && Date.now() % 4000 < 600, 10_000, 'the start of a 4 s interval');
    await q.producer.schedule('report', 'stale', { every: 4000, payload: { v: 1 } });
    const next = (await q.inspector.schedules('report'))[0].nextRunAt!.getTime();
    await sleep(300); // the instance reads and arms the schedule (it hears "changed" on the queue channel)
    await q.producer.schedule('report', 'stale', { every: 4000, payload: { v: 2 } });
    const after = (await q.inspector.schedules('report'))[0];
    expect(after.nextRunAt!.getTime()).toBe(next);
    expect(after.lastRunAt).toBeUndefined(); // the tick had not fired before the change
    await waitFor(() => ranFor('stale').some((s) => s.id === `stale@${next}`), 15_000, 'the tick job');
    expect(ranFor('stale').find((s) => s.id === `stale@${next}`)!.payload).toEqual({ v: 2 });
  });

  /** Runs a blocker, then 3 plain jobs and an urgent priority-1 job `produce` makes meanwhile; the order they ran in. */
  async function urgentAmongPlain(label: string, produce: (q: QueueApp) => Promise<void>): Promise<string[]> {
    const order: string[] = [];
    const release = deferred();
    @Injectable()
    class Busy {
      @QueueHandler('busy', { concurrency: 1 })
      async run(payload: { name: string }) {
        order.push(payload.name);
        if (payload.name === 'blocker') await release.promise;
      }
    }
    const q = await app([Busy], { prefix: uniquePrefix(label) });
    await listening(redis, q, 'busy');
    try {
      await q.producer.enqueue('busy', { name: 'blocker' });
      await waitFor(() => order.length === 1, 10_000, 'the blocker to run');
      await q.producer.enqueueMany('busy', [1, 2, 3].map((n) => ({ payload: { name: `plain-${n}` } })));
      await produce(q);
    } finally {
      release.resolve();
    }
    await waitFor(() => order.includes('plain-3') && order.includes('urgent'), 10_000, 'every job');
    return order;
  }

  it('(control) a delayed priority-1 job due while the slot is taken runs before the plain backlog', async () => {
    const order = await urgentAmongPlain('sched-priority-control', async (q) => {
      const at = Date.now();
      await q.producer.enqueue('busy', { name: 'urgent' }, { delay: 300, priority: 1 });
      await waitFor(() => Date.now() > at + 400, 10_000, 'its due time to pass');
    });
    expect(order.slice(0, 2)).toEqual(['blocker', 'urgent']);
  });

  // BUG (schedule.lua fire): enqueue.lua marks a queue `routed` (meta field) when a job has a priority, a
  // group or a debounce key, and the ready structures only look at a record's priority or group when the
  // queue is marked; schedule.lua stages its tick jobs without marking it. In a queue where nothing else
  // was ever enqueued with a priority or group, a tick job's `options.priority` is ignored (it joins the
  // plain ready list, behind the backlog) and its `options.group` too (no turn-taking, no group
  // concurrency or rate limit). Expected: the priority-1 tick job runs before the plain backlog, as the
  // delayed job of the control above does.
  it('a tick job with options.priority runs before plain jobs waiting in the queue', async () => {
    const order = await urgentAmongPlain('sched-priority', async (q) => {
      await q.producer.schedule('busy', 'urgent', { every: 1000, payload: { name: 'urgent' }, options: { priority: 1 } });
      // A tick passes while the only slot is taken: its job waits with the plain ones.
      const fired = await waitFor(async () => (await q.inspector.schedules('busy'))[0].lastRunAt?.getTime(), 10_000, 'a tick to fire');
      await waitFor(() => Date.now() > fired + 100, 10_000, 'its tick to pass');
    });
    expect(order.slice(0, 2)).toEqual(['blocker', 'urgent']);
  });

  it('rejects bad schedules naming the field, and stores nothing', async () => {
    const q = await app([], { prefix: uniquePrefix('sched-invalid'), consumers: false });
    const cases: Array<[unknown, string]> = [
      [{ cron: 'every day' }, 'schedule.cron'],
      [{ every: 1000, cron: '* * * * *' }, 'schedule'],
      [{ every: 1 }, 'schedule.every'],
      [{ cron: '0 8 * * *', timeZone: 'Paris' }, 'schedule.timeZone'],
      [{ every: 1000, missed: 'later' }, 'schedule.missed'],
      [{ every: 1000, options: { delay: 10 } }, 'schedule.options.delay'],
      [{ cron: '0 0 30 2 *' }, 'schedule.cron'], // February 30th: never ticks
    ];
    for (const [spec, field] of cases) {
      const error = await q.producer.schedule('report', 'bad', spec as never).catch((e: unknown) => e);
      expect({ spec, error }).toEqual({ spec, error: expect.any(InvalidOptionError) });
      expect({ spec, field: (error as InvalidOptionError).field }).toEqual({ spec, field });
    }
    await expect(q.producer.schedule('report', 'bad{name}', { every: 1000 })).rejects.toMatchObject({ field: 'name' });
    await expect(q.producer.schedule('report', 'x', { every: 1000, options: { attempts: 2 } })).resolves.toBe(true);
    expect((await q.inspector.schedules('report')).map((s) => s.name)).toEqual(['x']);
    expect(await q.producer.unschedule('report', 'never-there')).toBe(false);
    await expect(q.producer.unschedule('report', '')).rejects.toMatchObject({ field: 'name' });
  });

  it('the handler option is stored at bootstrap under its name (default "handler"), and module `queues` can override it per deployment', async () => {
    @Injectable()
    class Nightly {
      @QueueHandler('nightly', { schedule: { cron: '0 3 * * *', timeZone: 'America/New_York', payload: { full: true } } })
      run() {}
    }
    const q = await app([Nightly], { prefix: uniquePrefix('sched-decl') });
    await waitFor(async () => (await q.inspector.schedules('nightly')).length === 1, 10_000, 'the declared schedule');
    expect(await q.inspector.schedules('nightly')).toEqual([
      expect.objectContaining({ name: 'handler', cron: '0 3 * * *', timeZone: 'America/New_York', source: 'decorator', missed: 'once' }),
    ]);

    const prefix = uniquePrefix('sched-override');
    const o = await app([Nightly], { prefix, queues: { nightly: { schedule: { name: 'staging', every: 60_000, missed: 'skip' } } } });
    await waitFor(async () => (await o.inspector.schedules('nightly')).length === 1, 10_000, 'the overridden schedule');
    expect(await o.inspector.schedules('nightly')).toEqual([expect.objectContaining({ name: 'staging', every: 60_000, source: 'decorator', missed: 'skip' })]);
    // An API schedule on the same queue is the application's, not the code's: a bootstrap does not prune it.
    await o.producer.schedule('nightly', 'extra', { every: 60_000 });
    await o.close();
    const again = await app([Nightly], { prefix });
    const names = async () => (await again.inspector.schedules('nightly')).map((s) => s.name).join(',');
    await waitFor(async () => (await names()) === 'extra,handler', 10_000, 'the redeployed schedule, "staging" pruned');
  });

  it('a bad handler schedule fails the bootstrap, naming the handler option', async () => {
    @Injectable()
    class BadCron {
      @QueueHandler('bad-cron', { schedule: { cron: '0 25 * * *' } })
      run() {}
    }
    await expect(startQueueApp([BadCron], { prefix: uniquePrefix('sched-bad') })).rejects.toThrow(/schedule\.cron/);
  });

  // BUG (worker.host.ts declareSchedules): a declared cron that parses but never runs (February 30th) passes
  // the handler option check, then ScheduleStore.upsert throws InvalidOptionError ("never ticks") at
  // bootstrap, which declareSchedules treats like a Redis outage: it logs "could not store the schedules
  // ... retrying in the background" and retries every 5 s forever (and never prunes that queue's dropped
  // schedules). Expected: the bootstrap fails like any other bad handler option.
  it('a declared cron that never runs fails the bootstrap instead of retrying forever', async () => {
    @Injectable()
    class NeverTicks {
      @QueueHandler('never', { schedule: { cron: '0 0 30 2 *' } })
      run() {}
    }
    let started: QueueApp | undefined;
    try {
      started = await startQueueApp([NeverTicks], { prefix: uniquePrefix('sched-never') });
    } catch (error) {
      // The bootstrap fails naming the handler and the field (handler setup errors are RedisQueueErrors).
      expect(error).toBeInstanceOf(RedisQueueError);
      expect((error as Error).message).toMatch(/schedule\.cron[\s\S]*never runs/);
      return;
    }
    await started.close();
    throw new Error('the app started with a schedule that never ticks');
  });
});
