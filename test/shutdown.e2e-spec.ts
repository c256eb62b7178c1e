import { Injectable } from '@nestjs/common';
import { JobContext, QueueHandler, ShutdownAbortError } from 'nestjs-redis-queue';
import { SEP } from '../libs/redis-queue/src/engine/index.js';
import { rawClient, waitFor } from './support/helpers.js';
import { startQueueApp } from './support/queue-app.js';

const started: string[] = [];
const finished: string[] = [];
let abortReason: unknown;

@Injectable()
class Handlers {
  @QueueHandler('work', { concurrency: 2 })
  async work(payload: { name: string; ms?: number }, job: JobContext) {
    started.push(payload.name);
    if (payload.ms !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, payload.ms));
    } else {
      // Never finishes on its own: it waits for its signal, as a well-behaved long job does.
      await new Promise<void>((resolve) =>
        job.signal.addEventListener('abort', () => {
          abortReason = job.signal.reason;
          resolve();
        }),
      );
    }
    finished.push(payload.name);
  }
}

describe('graceful shutdown', () => {
  it('finishes in-flight jobs, claims nothing more, and hands unfinished jobs back at once', async () => {
    const q = await startQueueApp([Handlers], { shutdownTimeout: 1000 });
    await q.producer.enqueue('work', { name: 'quick', ms: 300 });
    await q.producer.enqueue('work', { name: 'endless' });
    await waitFor(() => started.length === 2, 5000, 'both jobs to start');
    await q.producer.enqueueMany('work', [{ payload: { name: 'c', ms: 1 } }, { payload: { name: 'd', ms: 1 } }]);

    const closing = q.app.close();
    // Producers keep working while workers drain.
    await q.producer.enqueue('work', { name: 'during-shutdown', ms: 1 });
    const begun = Date.now();
    await closing;
    const took = Date.now() - begun;

    expect(finished).toContain('quick'); // finished within shutdownTimeout and was acknowledged
    expect(started.sort()).toEqual(['endless', 'quick']); // nothing claimed after shutdown began
    expect(abortReason).toBeInstanceOf(ShutdownAbortError);
    // Bounded by shutdownTimeout (and a short grace for the last calls), not waiting out the 30 s lease:
    // a guard against hanging, generous for a loaded machine.
    expect(took).toBeLessThan(25_000);

    // The unfinished job is ready again right away (the lease is 30 s: this is the release, not expiry),
    // at the head of the queue, with no attempt counted against it.
    const redis = rawClient();
    const ready = await redis.lrange(`${q.prefix}:{work}:ready`, 0, -1);
    expect(ready).toHaveLength(4);
    const names = ready.map((r) => JSON.parse(r.slice(r.lastIndexOf(SEP) + 1)).name);
    expect(names).toEqual(['endless', 'c', 'd', 'during-shutdown']);
    expect(ready[0].split(SEP)[1]).toBe('0'); // attempts made
    expect(await redis.hgetall(`${q.prefix}:{work}:claims`)).toEqual({ '#active': '0', '#claims': '0' }); // every claim settled and gone
    expect(await redis.zcard(`${q.prefix}:{work}:deadlines`)).toBe(0);
    redis.disconnect();
  });
});

const runs: string[] = [];

@Injectable()
class DrainHandlers {
  @QueueHandler('drain', { concurrency: 2 })
  async drain(payload: { name: string; ms: number }) {
    runs.push(payload.name);
    await new Promise((resolve) => setTimeout(resolve, payload.ms));
  }
}

describe('graceful shutdown with a drain longer than the lease', () => {
  it('acknowledges jobs as they finish during the drain, so their leases cannot expire into duplicates', async () => {
    const first = await startQueueApp([DrainHandlers], { leaseDuration: 300, shutdownTimeout: 3000 });
    await first.producer.enqueue('drain', { name: 'short', ms: 150 });
    await first.producer.enqueue('drain', { name: 'long', ms: 1500 });
    await waitFor(() => runs.length === 2, 5000, 'both jobs to start');
    // A second worker that would recover any lease the first lets expire.
    const second = await startQueueApp([DrainHandlers], { prefix: first.prefix, leaseDuration: 300 });
    await first.app.close();
    await new Promise((r) => setTimeout(r, 500));
    expect(runs.sort()).toEqual(['long', 'short']); // each ran once
    expect(await second.inspector.counts('drain')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
    await second.close();
  });
});
