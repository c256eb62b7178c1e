// Issue 11, defect 10 (the enqueue items): a payload nested 5,000+ levels deep threw a raw RangeError;
// RedisUnavailableError said "did not confirm within 5000 ms ... may or may not be stored" when the call
// failed at once and stored nothing (after close, protocol error); enqueueMany said "(0 of 3 batches of
// 1000 were stored)" when all 2,500 jobs had been stored; and a batch over Redis's `proto-max-bulk-len`
// dropped the shared producer connection, failing an unrelated concurrent enqueue too. (The stalls use
// DEBUG SLEEP, as the issue did: CLIENT PAUSE differs, a paused client that disconnects has its pending
// commands dropped, so nothing would be stored.)
import { Redis } from 'ioredis';
import { InvalidPayloadError, RedisQueueError, RedisUnavailableError } from 'nestjs-redis-queue';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { bootApp, eventually, expectQueueError, payloadOf, rejectionOf, sleep, startOwnRedis, TestApp, waitFor } from './support.js';

/** Words that promise nothing was stored, and words that say the outcome is unknown. */
const NOTHING_STORED = /nothing (was |has been )?(stored|enqueued|written)|not (been )?(stored|enqueued|written)/i;
const MAYBE_STORED = /may or may not|unknown|not confirmed|unconfirmed/i;

function nested(depth: number, array: boolean): unknown {
  let value: unknown = array ? [] : {};
  for (let i = 0; i < depth; i++) value = array ? [value] : { child: value };
  return value;
}

describe('enqueue errors on the shared Redis', () => {
  let q: TestApp;
  beforeAll(async () => {
    q = await bootApp([], { consumers: false });
  });
  afterAll(() => q.close());

  it.each([
    ['objects', 5_000, false],
    ['arrays', 5_000, true],
    ['arrays', 100_000, true],
  ])('rejects %s nested %i levels deep with InvalidPayloadError, storing nothing', async (_kind, depth, array) => {
    const error = await rejectionOf(q.producer.enqueue('deep', nested(depth as number, array as boolean)));
    expect({ name: (error as Error)?.name, isInvalidPayload: error instanceof InvalidPayloadError }).toEqual({
      name: 'InvalidPayloadError',
      isInvalidPayload: true,
    });
    expect((error as Error).message).toMatch(/deep|nest|depth/i);
    expect(await q.inspector.counts('deep')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
  });

  it('says that nothing was stored, not "may or may not", when enqueue is called after app.close()', async () => {
    const closed = await bootApp([], { consumers: false });
    await closed.producer.enqueue('after-close', { warm: true });
    await closed.close();
    const error = await rejectionOf(closed.producer.enqueue('after-close', { n: 1 }));
    expectQueueError(error);
    expect({ message: error.message, nothingStored: NOTHING_STORED.test(error.message), maybe: MAYBE_STORED.test(error.message) }).toEqual({
      message: error.message,
      nothingStored: true,
      maybe: false,
    });
    expect(error.message).not.toMatch(/did not confirm within/);
  });
});

describe('enqueue errors against a Redis that stalls or refuses', () => {
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await startOwnRedis();
    admin = server.client();
  });
  afterAll(async () => {
    admin.disconnect();
    await server.stop();
  });

  /**
   * Runs `call` while Redis sleeps (DEBUG SLEEP: it answers nothing for `ms`, then reads and runs what
   * arrived meanwhile) and returns its rejection. The call is sent once the sleep has surely begun; should
   * it still have reached Redis first (it then succeeds), the whole thing is tried again.
   */
  async function duringSleep(ms: number, call: () => Promise<unknown>): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      const sleeping = admin.call('DEBUG', 'SLEEP', String(ms / 1000));
      await sleep(200); // Redis, idle, reads the DEBUG within microseconds; this only orders the two
      const error = await rejectionOf(call());
      await sleeping;
      if (error !== undefined || attempt === 3) return error;
    }
  }

  it('says the outcome is unknown when Redis went silent after the job was sent (and it was stored)', async () => {
    const q = await bootApp([], { connection: server.url, consumers: false, commandTimeout: 300 });
    try {
      const error = await duringSleep(1500, () => q.producer.enqueue('stall', { n: 1 }));
      expect(error).toBeInstanceOf(RedisUnavailableError);
      expect((error as Error).message).toMatch(MAYBE_STORED);
      // Indeed it was: Redis ran it once it woke up.
      await eventually(async () => (await q.inspector.counts('stall')).ready === 1, 10_000, 'the job to be stored');
    } finally {
      await q.close();
    }
  });

  it('reports an enqueueMany that timed out without claiming that fewer jobs were stored than were', async () => {
    const q = await bootApp([], { connection: server.url, consumers: false, commandTimeout: 300 });
    try {
      const jobs = Array.from({ length: 2500 }, (_, n) => ({ payload: { n } }));
      const error = await duringSleep(1500, () => q.producer.enqueueMany('partial', jobs));
      expectQueueError(error);
      // All three batches were sent during the sleep: Redis stores all 2,500 once it wakes up.
      await eventually(async () => (await q.inspector.counts('partial')).ready === 2500, 10_000, 'the 2,500 jobs to be stored', () =>
        q.inspector.counts('partial'),
      );
      const message = error.message;
      // A count of batches the message states as stored must not be below what Redis holds.
      const stated = /(\d+) of (\d+) batch(?:es)?[^;.)]*?\bwere stored/i.exec(message);
      expect({
        message,
        statedStoredBatches: stated ? Number(stated[1]) : 'none stated',
        saysOutcomeUnknown: MAYBE_STORED.test(message),
      }).toEqual({ message, statedStoredBatches: stated ? 3 : 'none stated', saysOutcomeUnknown: true });
    } finally {
      await q.close();
    }
  });

  it('fails only a batch larger than proto-max-bulk-len, clearly, leaving the shared connection and a concurrent enqueue unharmed', async () => {
    await admin.config('SET', 'proto-max-bulk-len', String(1024 * 1024)); // the lowest Redis accepts: 1 MB
    const q = await bootApp([], { connection: server.url, consumers: false });
    try {
      await q.producer.enqueue('bulk', { warm: true });
      const connectionId = async () => {
        const list = String(await admin.client('LIST'));
        return list.split('\n').find((line) => line.includes(`name=${q.prefix}:producer`))?.match(/\bid=(\d+)/)?.[1];
      };
      const before = await connectionId();
      // 1000 jobs of 2 KB: one script call carries about 2 MB of records, over the 1 MB limit.
      const big = rejectionOf(q.producer.enqueueMany('bulk', Array.from({ length: 1000 }, (_, n) => ({ payload: payloadOf(2048, { n }) }))));
      const small = rejectionOf(q.producer.enqueue('bulk', { unrelated: true }));
      const [bigError, smallError] = await Promise.all([big, small]);

      // Jobs of the big batch stored (besides the warm-up and the unrelated job); read once the inspector
      // answers, as its connection may be reconnecting.
      const total = (await waitFor(() => q.inspector.counts('bulk').catch(() => undefined), 10_000, 'the counts')).ready;
      const stored = total - 1 - (smallError === undefined ? 1 : 0);
      const clearRefusal = (error: unknown): boolean =>
        error instanceof RedisQueueError &&
        /proto-max-bulk-len|too (large|big)|bulk/i.test(error.message) &&
        NOTHING_STORED.test(error.message) &&
        !MAYBE_STORED.test(error.message);
      expect({
        unrelatedEnqueue: smallError === undefined ? 'stored' : String(smallError),
        bigBatch:
          bigError === undefined
            ? `resolved, ${stored} of 1000 stored`
            : clearRefusal(bigError) && stored === 0
              ? 'refused clearly, nothing stored'
              : `${String(bigError)} (${stored} of 1000 stored)`,
        // The producer's connection was never dropped.
        sameConnection: (await connectionId()) === before,
      }).toEqual({
        unrelatedEnqueue: 'stored',
        // Splitting the batch to fit is fine too: then every job is stored.
        bigBatch: bigError === undefined ? 'resolved, 1000 of 1000 stored' : 'refused clearly, nothing stored',
        sameConnection: true,
      });
      await expect(q.producer.enqueue('bulk', { after: true })).resolves.toEqual(expect.any(String));
    } finally {
      await q.close();
      await admin.config('SET', 'proto-max-bulk-len', String(512 * 1024 * 1024));
    }
  });
});
