import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { JobContext, OnQueueEvent } from 'nestjs-redis-queue';
import type { QueueEvent, QueueEventName } from 'nestjs-redis-queue';
import { queueKeys } from '../../libs/redis-queue/src/engine/index.js';
import { ChildScript } from '../support/child.js';
import { deferred, rawClient, uniquePrefix, waitFor } from '../support/helpers.js';
import { QueueApp, startQueueApp } from '../support/queue-app.js';
import { aborted, handlerFor, startWorkerProcess, waitForSubscribers } from '../support/steering.js';

// @OnQueueEvent in an API app (consumers: false) hearing the jobs a worker app in another process runs.

const prefix = uniquePrefix('events');
let raw: Redis;
const apps: QueueApp[] = [];
const children: ChildScript[] = [];

/** Events heard, in order, by listener class. */
const heard = { each: [] as QueueEvent[], all: [] as QueueEvent[], second: [] as QueueEvent[], throwing: [] as QueueEvent[] };

@Injectable()
class EachEventListener {
  @OnQueueEvent('ev-q', 'completed')
  completed(event: QueueEvent) {
    heard.each.push(event);
  }
  @OnQueueEvent('ev-q', 'failed')
  failed(event: QueueEvent) {
    heard.each.push(event);
  }
  @OnQueueEvent('ev-q', 'dead')
  dead(event: QueueEvent) {
    heard.each.push(event);
  }
  @OnQueueEvent('ev-q', 'progress')
  progress(event: QueueEvent) {
    heard.each.push(event);
  }
  @OnQueueEvent('ev-q', 'cancelled')
  cancelled(event: QueueEvent) {
    heard.each.push(event);
  }
}

@Injectable()
class EveryEventListener {
  @OnQueueEvent('ev-q', '*')
  any(event: QueueEvent) {
    heard.all.push(event);
  }
}

@Injectable()
class SecondAppListener {
  @OnQueueEvent('ev-q', 'completed')
  completed(event: QueueEvent) {
    heard.second.push(event);
  }
}

const of = (list: QueueEvent[], event: QueueEventName, id: string) => list.filter((e) => e.event === event && e.id === id);

beforeAll(() => {
  raw = rawClient();
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()));
  await Promise.all(apps.map((app) => app.close()));
  raw.disconnect();
});

describe('@OnQueueEvent across apps', () => {
  it('an API app hears completed, failed, dead, progress and cancelled of jobs a worker process runs', async () => {
    const api = await startQueueApp([EachEventListener, EveryEventListener], { prefix, consumers: false });
    const other = await startQueueApp([SecondAppListener], { prefix, consumers: false });
    apps.push(api, other);
    const worker = await startWorkerProcess({ prefix, queues: ['ev-q'], concurrency: 8 });
    children.push(worker);
    await waitForSubscribers(raw, prefix, 'ev-q', 3);

    const p = api.producer;
    const fast = { type: 'fixed' as const, delay: 10, jitter: 0 };
    const plain = await p.enqueue('ev-q', { value: 'plain' });
    const tracked = await p.enqueue('ev-q', { value: { url: 'https://files.example/r.pdf' } }, { track: true });
    const flaky = await p.enqueue('ev-q', { run: 'fail', failTimes: 1, value: 'second time lucky' }, { attempts: 3, backoff: fast, track: true });
    const doomed = await p.enqueue('ev-q', { run: 'fail' }, { attempts: 2, backoff: fast });
    const invalid = await p.enqueue('ev-q', { run: 'fail-permanently' });
    const reporting = await p.enqueue('ev-q', { run: 'progress', n: 3, value: 'reported' }, { track: true });
    const running = await p.enqueue('ev-q', { run: 'block' }, { track: true });
    const waiting = await p.enqueue('ev-q', { never: true }, { track: true, delay: 3_600_000 });

    await worker.waitForLine(new RegExp(`^started ev-q ${running} 1$`));
    expect((await p.cancel('ev-q', running)).outcome).toBe('aborting');
    expect((await p.cancel('ev-q', waiting)).outcome).toBe('removed');

    await waitFor(
      () =>
        of(heard.each, 'completed', plain).length === 1 &&
        of(heard.each, 'completed', tracked).length === 1 &&
        of(heard.each, 'completed', flaky).length === 1 &&
        of(heard.each, 'dead', doomed).length === 1 &&
        of(heard.each, 'dead', invalid).length === 1 &&
        of(heard.each, 'completed', reporting).length === 1 &&
        of(heard.each, 'cancelled', running).length === 1 &&
        of(heard.each, 'cancelled', waiting).length === 1,
      30_000,
      'every event',
    );

    expect(of(heard.each, 'completed', plain)[0]).toMatchObject({ queue: 'ev-q', id: plain });
    expect(of(heard.each, 'completed', plain)[0].at).toBeInstanceOf(Date);
    expect(of(heard.each, 'completed', tracked)[0].result).toEqual({ url: 'https://files.example/r.pdf' });
    expect(of(heard.each, 'completed', flaky)[0].result).toBe('second time lucky');

    const failedFlaky = of(heard.each, 'failed', flaky);
    expect(failedFlaky).toHaveLength(1);
    expect(failedFlaky[0]).toMatchObject({ attempt: 1, error: { name: 'Error', message: 'attempt 1 fails' } });
    expect(of(heard.each, 'failed', doomed).map((e) => e.attempt)).toEqual([1]);
    expect(of(heard.each, 'dead', doomed)[0].error).toMatchObject({ name: 'Error', message: 'attempt 2 fails' });
    expect(of(heard.each, 'dead', invalid)[0].error).toMatchObject({ name: 'PermanentJobError', message: 'this job cannot succeed' });
    expect(of(heard.each, 'failed', invalid)).toHaveLength(0); // dead at once: no failed attempt announced

    const progress = of(heard.each, 'progress', reporting).map((e) => e.progress as number);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[progress.length - 1]).toBe(3);
    expect([...progress].sort()).toEqual(progress);
    expect(of(heard.each, 'completed', running)).toHaveLength(0);
    expect(of(heard.each, 'completed', waiting)).toHaveLength(0);

    // The '*' listener heard the same events, and the second app the completions, each once.
    await waitFor(() => heard.all.length >= heard.each.length && heard.second.length >= 4, 10_000, 'the other listeners');
    const key = (e: QueueEvent) => `${e.event}:${e.id}:${e.attempt ?? ''}:${JSON.stringify(e.progress ?? null)}`;
    expect(heard.all.map(key).sort()).toEqual(heard.each.map(key).sort());
    const completedIds = heard.each.filter((e) => e.event === 'completed').map((e) => e.id).sort();
    expect(heard.second.map((e) => e.id).sort()).toEqual(completedIds);
  });

  it('a listener that throws is logged, and the next event still comes', async () => {
    @Injectable()
    class Throwing {
      @OnQueueEvent('throw-ev-q', 'completed')
      completed(event: QueueEvent) {
        heard.throwing.push(event);
        if (heard.throwing.length === 1) throw new Error('listener bug');
      }
    }
    const api = await startQueueApp([Throwing], { prefix, consumers: false });
    apps.push(api);
    const worker = await startQueueApp([handlerFor('throw-ev-q', () => 'ok')], { prefix });
    apps.push(worker);
    const first = await api.producer.enqueue('throw-ev-q', {});
    const second = await api.producer.enqueue('throw-ev-q', {});
    await waitFor(() => heard.throwing.length === 2, 10_000, 'both events');
    expect(heard.throwing.map((e) => e.id)).toEqual([first, second]);
  });

  it('events cost nothing when nobody listens: no stream, no listener registration', async () => {
    const release = deferred();
    const worker = await startQueueApp(
      [
        handlerFor(
          'silent-q',
          async (payload: { run: string }, job: JobContext) => {
            if (payload.run === 'fail') throw new Error('x');
            if (payload.run === 'progress') await job.progress(50);
            if (payload.run === 'block') {
              await Promise.race([release.promise, aborted(job.signal)]);
              if (job.signal.aborted) throw job.signal.reason;
            }
            return 'ok';
          },
          { concurrency: 4 },
        ),
      ],
      { prefix },
    );
    apps.push(worker);
    const p = worker.producer;
    const fast = { type: 'fixed' as const, delay: 1 };
    const ids = [
      ...(await p.enqueueMany('silent-q', Array.from({ length: 50 }, () => ({ payload: { run: 'ok' } })))),
      await p.enqueue('silent-q', { run: 'fail' }, { attempts: 2, backoff: fast }),
      await p.enqueue('silent-q', { run: 'progress' }, { track: true }),
      await p.enqueue('silent-q', { run: 'ok' }, { track: true }),
    ];
    const blocked = await p.enqueue('silent-q', { run: 'block' }, { track: true });
    await waitFor(async () => (await worker.inspector.job('silent-q', blocked))?.state === 'active', 10_000, 'the blocked job');
    await p.cancel('silent-q', blocked);
    await waitFor(async () => {
      const c = await worker.inspector.counts('silent-q');
      return c.ready + c.delayed + c.active === 0 && c.dead === 1;
    }, 15_000, 'every job to finish');
    expect(ids).toHaveLength(53);
    const k = queueKeys(prefix, 'silent-q');
    expect(await raw.exists(k.events)).toBe(0);
    const meta = await raw.hgetall(k.meta);
    expect(Object.keys(meta).filter((f) => f.startsWith('listen:'))).toEqual([]);
    release.resolve();
  });

  it('the events stream stays bounded (about the last 10,000 events)', async () => {
    let count = 0;
    @Injectable()
    class Counting {
      @OnQueueEvent('bounded-ev-q', 'completed')
      completed() {
        count++;
      }
    }
    const api = await startQueueApp([Counting], { prefix, consumers: false });
    apps.push(api);
    const worker = await startQueueApp([handlerFor('bounded-ev-q', () => undefined, { concurrency: 64 })], { prefix });
    apps.push(worker);
    for (let i = 0; i < 3; i++) {
      await api.producer.enqueueMany('bounded-ev-q', Array.from({ length: 5000 }, (_, n) => ({ payload: { n } })));
    }
    await waitFor(async () => {
      const c = await api.inspector.counts('bounded-ev-q');
      return c.ready + c.active === 0;
    }, 60_000, '15,000 jobs to run');
    const length = await raw.xlen(queueKeys(prefix, 'bounded-ev-q').events);
    expect(length).toBeGreaterThanOrEqual(10_000);
    expect(length).toBeLessThan(11_000); // trimmed with MAXLEN ~ (whole stream nodes)
    await waitFor(() => count >= 10_000, 30_000, 'the listener to keep up');
  });

  it('a listener of an unknown event fails the bootstrap, naming the method', async () => {
    @Injectable()
    class Misspelt {
      @OnQueueEvent('ev-q', 'finished' as 'completed')
      onFinished() {}
    }
    await expect(startQueueApp([Misspelt], { prefix, consumers: false })).rejects.toThrow(/Misspelt\.onFinished[\s\S]*event must be one of/);
  });

  // BUG (engine, worker.ts + settle.ts): whether a worker lists acknowledged untracked jobs for
  // `completed` events (and sends progress of untracked jobs at all) depends on the listen flags of its
  // last claim reply. A worker that claimed a job before a listener registered, and has made no round
  // trip since (a long job, all its slots busy), acknowledges it without telling the script, so the
  // event is never written: an app that started listening and is ready misses the completion (and the
  // progress) of a job that finishes afterwards. QueueEvents promises "every event from then on".
  // Suspected fix: decide in the claim script (which reads the flags live), e.g. have the worker always
  // send generated ids when the claim's listen state is unknown, or re-read flags on renewal.
  it('a listener that starts while a job runs hears its completion', async () => {
    const release = deferred();
    const started = deferred();
    const worker = await startQueueApp(
      [
        handlerFor('late-ev-q', async (_p, job: JobContext) => {
          started.resolve();
          await release.promise;
          await job.progress('almost');
          return 'late result';
        }),
      ],
      { prefix },
    );
    apps.push(worker);
    const id = await worker.producer.enqueue('late-ev-q', {});
    await started.promise;

    const late: QueueEvent[] = [];
    @Injectable()
    class LateListener {
      @OnQueueEvent('late-ev-q', '*')
      any(event: QueueEvent) {
        late.push(event);
      }
    }
    const api = await startQueueApp([LateListener], { prefix, consumers: false }); // init() resolves once listening
    apps.push(api);
    release.resolve();
    await waitFor(() => late.some((e) => e.event === 'completed' && e.id === id), 10_000, 'the completed event');
    expect(late.some((e) => e.event === 'progress' && e.progress === 'almost')).toBe(true);
  });
});
