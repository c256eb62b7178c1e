// Issue 11, defect 2: delayed jobs with the same due time ran in the order of their records as strings
// (an enqueueMany of 30 ran 1, 10...19, 2, 20...29, 3, 30, 4...9), not in the order they were stored.
import { Injectable } from '@nestjs/common';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import { bootApp, deferred, TestApp, waitFor } from './support.js';

const order: Record<string, number[]> = { batch: [], single: [] };

@Injectable()
class InOrder {
  // Concurrency 1: jobs start one at a time, in the order the queue hands them out. A queue per test, so
  // that generated ids start at 1 and cross from one digit to two, as they do in any queue.
  @QueueHandler('fifo-batch')
  async batch(payload: { n: number }, _job: JobContext) {
    order.batch.push(payload.n);
  }

  @QueueHandler('fifo-single')
  async single(payload: { n: number }, _job: JobContext) {
    order.single.push(payload.n);
  }
}

const retryStarts: Array<{ n: number; attempt: number }> = [];
const allStarted = deferred();
const failInOrder: Array<() => void> = [];

@Injectable()
class FailOnceTogether {
  // Room for all 30 at once: their first attempts run side by side, then fail together, in order.
  @QueueHandler('fifo-retry', { concurrency: 30, attempts: 2, backoff: { type: 'fixed', delay: 300, jitter: 0 } })
  async run(payload: { n: number }, job: JobContext) {
    retryStarts.push({ n: payload.n, attempt: job.attempt });
    if (job.attempt > 1) return;
    await new Promise<void>((_, reject) => {
      failInOrder[payload.n] = () => reject(new Error(`job ${payload.n} fails on its first attempt`));
      if (failInOrder.filter(Boolean).length === 30) allStarted.resolve();
    });
  }
}

const numbers = Array.from({ length: 30 }, (_, n) => n);

describe('FIFO among delayed jobs due at the same time', () => {
  let q: TestApp;
  beforeAll(async () => {
    q = await bootApp([InOrder, FailOnceTogether]);
  });
  afterAll(() => q.close());

  it('runs an enqueueMany batch with one delay in the order given', async () => {
    // One script call stores the whole batch: every job gets the very same due time.
    await q.producer.enqueueMany(
      'fifo-batch',
      numbers.map((n) => ({ payload: { n }, options: { delay: 300 } })),
    );
    await waitFor(() => order.batch.length === 30, 15_000, 'the 30 delayed jobs to run');
    expect(order.batch).toEqual(numbers);
  });

  it('runs jobs enqueued one by one within a millisecond, with one delay, in the order enqueued', async () => {
    // All calls leave in one tick over one connection, so Redis stores them back to back, in call order,
    // most of them within the same millisecond: equal due times. Their ids are the caller's, and sort
    // against the order of the calls (ids owe nothing to time), so any tie broken by the record is seen.
    const jobId = (n: number) => `order-${String(99 - n).padStart(2, '0')}`;
    await Promise.all(numbers.map((n) => q.producer.enqueue('fifo-single', { n }, { delay: 300, jobId: jobId(n) })));
    await waitFor(() => order.single.length === 30, 15_000, 'the 30 delayed jobs to run');
    expect(order.single).toEqual(numbers);
  });

  it('runs retries that become due together in the order they failed', async () => {
    await q.producer.enqueueMany('fifo-retry', numbers.map((n) => ({ payload: { n } })));
    await allStarted.promise;
    // Fail them in job order within one tick: the worker settles the 30 retries in one round trip, all due
    // 300 ms after the same instant.
    for (const n of numbers) failInOrder[n]();
    await waitFor(() => retryStarts.filter((s) => s.attempt === 2).length === 30, 15_000, 'the 30 retries to start');
    expect(retryStarts.filter((s) => s.attempt === 2).map((s) => s.n)).toEqual(numbers);
  });
});
