import fc from 'fast-check';
import { closeClient, createClient, decodeRecord, JobProducer, consoleLogger, whenReady } from '../libs/redis-queue/src/engine/index.js';
import { rawClient, redisUrl, uniquePrefix } from './support/helpers.js';

const hasProtoKey = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && (Object.hasOwn(value, '__proto__') || Object.values(value).some(hasProtoKey));

describe('enqueueMany packs a batch into a few arguments', () => {
  it('stores every job exactly as given, whatever the mix of payloads, ids and delays', async () => {
    const client = createClient(redisUrl(), { role: 'producer', name: 'packing', commandTimeout: 5000, logger: consoleLogger });
    await whenReady(client, 5000, 'test');
    const redis = rawClient();
    const job = fc.record({
      payload: fc.jsonValue().filter((v) => !hasProtoKey(v)),
      jobId: fc.option(fc.stringMatching(/^[a-z][a-z0-9:._-]{0,20}$/), { nil: undefined }),
      delay: fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
      // eslint-disable-next-line no-control-regex
      traceId: fc.option(fc.string({ minLength: 1, maxLength: 20 }).filter((t) => !/[\x00-\x1f\x7f{}]/.test(t)), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(job, { minLength: 1, maxLength: 40, selector: (j) => j.jobId ?? Symbol() }), async (jobs) => {
        const prefix = uniquePrefix('pack');
        const producer = new JobProducer({ client, prefix, batchSize: 7 }); // several batches per call
        const ids = await producer.enqueueMany(
          'q',
          jobs.map((j) => ({ payload: j.payload, options: { jobId: j.jobId, delay: j.delay, traceId: j.traceId } })),
        );
        const stored = new Map<string, ReturnType<typeof decodeRecord>>();
        for (const r of await redis.lrange(`${prefix}:{q}:ready`, 0, -1)) stored.set(decodeRecord(r).id, decodeRecord(r));
        for (const r of await redis.zrange(`${prefix}:{q}:delayed`, 0, -1)) stored.set(decodeRecord(r).id, decodeRecord(r));
        expect(stored.size).toBe(jobs.length);
        jobs.forEach((j, i) => {
          const got = stored.get(ids[i])!;
          if (j.jobId !== undefined) expect(ids[i]).toBe(j.jobId);
          expect(got.payload).toEqual(JSON.parse(JSON.stringify(j.payload)));
          expect(got.traceId).toBe(j.traceId ?? ids[i]);
        });
        expect(await redis.zcard(`${prefix}:{q}:delayed`)).toBe(jobs.filter((j) => j.delay !== undefined).length);
      }),
      { numRuns: 40 },
    );
    redis.disconnect();
    await closeClient(client);
  });
});
