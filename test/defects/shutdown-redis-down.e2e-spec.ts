// Issue 11, defect 7: shutdown was not bounded by `shutdownTimeout` when Redis was down (4 jobs of 2 s,
// shutdownTimeout 10 s: exit after 61 s, the final settle retried twice with 3 attempts each of 10 s),
// nothing said that the finished jobs would run again, and with jobs still running the log said both
// "could not release 4 job(s)" and "released 4 unfinished job(s) back to the queue".
import { Injectable } from '@nestjs/common';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { bootApp, eventually, sleep, startOwnRedis, TestApp, within } from './support.js';

const SHUTDOWN_MS = 2000;
/**
 * The README tells operators that `shutdownTimeout` + 5 s is enough before the platform kills the
 * process (Kubernetes' terminationGracePeriodSeconds). That is a promise about wall-clock time, so this
 * is the one kind of test that asserts one; 5 s of grace is generous for closing sockets to a Redis that
 * is not there, even on a loaded machine.
 */
const GRACE_MS = 5000;

const started = new Set<string>();
/** Ids without digits, so that a line naming one job is never taken for a line counting 4 of them. */
const jobIds = ['job-a', 'job-b', 'job-c', 'job-d'];

@Injectable()
class Handlers {
  @QueueHandler('finishes', { concurrency: 4 })
  async finishes(_payload: unknown, job: JobContext) {
    started.add(job.id);
    await sleep(1000);
  }

  @QueueHandler('endless', { concurrency: 4 })
  async endless(_payload: unknown, job: JobContext) {
    started.add(`endless-${job.id}`);
    // A well-behaved long job: it stops when its signal says so.
    await new Promise<void>((resolve) => job.signal.addEventListener('abort', () => resolve()));
  }
}

describe('graceful shutdown while Redis is down', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startOwnRedis();
  });
  afterAll(() => server.stop());

  /**
   * Closes the app with Redis still down and reports how long it took and what it logged meanwhile. It
   * waits for the close to end however long it takes (up to a guard far past the bound), so that the log
   * lines of a slow shutdown are complete too.
   */
  async function closeWhileDown(q: TestApp): Promise<{ withinBound: boolean; tookMs: number; lines: string[] }> {
    const from = q.logger.lines.length;
    const began = Date.now();
    const closed = await within(q.close().then(() => true), 150_000, false);
    const tookMs = Date.now() - began;
    if (!closed) throw new Error(`app.close() with Redis down had not returned after ${tookMs} ms`);
    return { withinBound: tookMs <= SHUTDOWN_MS + GRACE_MS, tookMs, lines: q.logger.lines.slice(from) };
  }

  /**
   * Lines saying that jobs were handed back to the queue ("released 4 unfinished job(s) back to the
   * queue"), not those saying they could not be.
   */
  const releasedLines = (lines: string[]) => lines.filter((l) => /\breleased \d+|\b(were|was|been) released\b/i.test(l));

  it('is bounded by shutdownTimeout and says that the jobs that finished meanwhile will run again', async () => {
    const q = await bootApp([Handlers], { connection: server.url, shutdownTimeout: SHUTDOWN_MS, commandTimeout: 1000 });
    try {
      const ids = await q.producer.enqueueMany('finishes', jobIds.map((jobId) => ({ payload: {}, options: { jobId } })));
      await eventually(() => ids.every((id) => started.has(id)), 10_000, 'the 4 jobs to start');
      await server.kill('SIGKILL');

      // The jobs finish (1 s) within shutdownTimeout, but their acknowledgements cannot reach Redis.
      const { withinBound, tookMs, lines } = await closeWhileDown(q);
      expect({
        withinBound,
        tookMs,
        // The operator learns that 4 finished jobs were not acknowledged and will run again...
        runAgain: lines.some((l) => /\b4\b/.test(l) && /again/i.test(l)),
        // ...and nothing claims that jobs went back to the queue: none could.
        released: releasedLines(lines),
      }).toEqual({ withinBound: true, tookMs, runAgain: true, released: [] });
    } finally {
      await server.restart(); // a close still in progress can finish
      await q.close();
    }
  }, 200_000);

  it('is bounded by shutdownTimeout with jobs still running, and does not say both "not released" and "released"', async () => {
    const q = await bootApp([Handlers], { connection: server.url, shutdownTimeout: SHUTDOWN_MS, commandTimeout: 1000 });
    try {
      const ids = await q.producer.enqueueMany('endless', jobIds.map((jobId) => ({ payload: {}, options: { jobId } })));
      await eventually(() => ids.every((id) => started.has(`endless-${id}`)), 10_000, 'the 4 jobs to start');
      await server.kill('SIGKILL');

      // shutdownTimeout passes, the jobs are aborted, and they cannot be handed back to Redis.
      const { withinBound, tookMs, lines } = await closeWhileDown(q);
      expect({
        withinBound,
        tookMs,
        // ...that the 4 aborted jobs could not be handed back and will run again (after their lease)...
        runAgain: lines.some((l) => /\b4\b/.test(l) && /(again|return)/i.test(l)),
        // ...and none contradicts it.
        released: releasedLines(lines),
      }).toEqual({ withinBound: true, tookMs, runAgain: true, released: [] });
    } finally {
      await server.restart();
      await q.close();
    }
  }, 200_000);
});
