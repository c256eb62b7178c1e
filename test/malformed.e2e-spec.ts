import { Injectable } from '@nestjs/common';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import { SEP } from '../libs/redis-queue/src/engine/index.js';
import { rawClient, waitFor } from './support/helpers.js';
import { startQueueApp } from './support/queue-app.js';

const handled: unknown[] = [];

@Injectable()
class Handlers {
  @QueueHandler('inbox', { concurrency: 4 })
  async inbox(payload: unknown, _job: JobContext) {
    handled.push(payload);
  }
}

const rec = (id: string, attempts: string, enqueuedAt: string, opts: string, trace: string, payload: string) =>
  [id, attempts, enqueuedAt, opts, trace, payload].join(SEP);

describe('malformed job records', () => {
  it('dead-letters each damaged record with the reason, and keeps processing good jobs', async () => {
    const q = await startQueueApp([Handlers], { consumers: false });
    const redis = rawClient();
    const ready = `${q.prefix}:{inbox}:ready`;
    const damaged: Array<[string, string, string]> = [
      // [raw record, dead-letter id, reason fragment]
      ['no separators at all', 'malformed-', 'it has no id'],
      [rec('bad-json', '0', '1700000000000', '', '', '{"to":'), 'bad-json', 'payload is not JSON'],
      [rec('bad-attempts', 'x', '1700000000000', '', '', '{}'), 'bad-attempts', 'attempts made is "x"'],
      [rec('bad-time', '0', 'yesterday', '', '', '{}'), 'bad-time', 'enqueued-at is "yesterday"'],
      [rec('bad-opts', '0', '1700000000000', '{"attempts":"many"}', '', '{}'), 'bad-opts', 'attempts'],
      [rec('proto', '0', '1700000000000', '', '', '{"__proto__":{"isAdmin":true}}'), 'proto', '"__proto__" key'],
      [`short${SEP}0`, 'short', 'expected 6 fields'],
      ['x'.repeat(3 * 1024 * 1024), 'malformed-', 'it has no id'], // huge, and no separators
      [rec('huge-junk', '0', '1700000000000', '', '', `{"a":"${'y'.repeat(2 * 1024 * 1024)}`), 'huge-junk', 'payload is not JSON'],
    ];
    await redis.rpush(ready, ...damaged.map(([raw]) => raw));
    await q.close();

    const worker = await startQueueApp([Handlers], { prefix: q.prefix });
    await worker.producer.enqueue('inbox', { to: 'ada@example.com' });
    await waitFor(() => handled.length === 1, 5000, 'the good job after the damaged ones');
    expect(handled).toEqual([{ to: 'ada@example.com' }]);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();

    await waitFor(async () => (await worker.inspector.counts('inbox')).dead === damaged.length, 5000, 'all dead letters');
    const dead = await worker.inspector.deadJobs('inbox');
    for (const [raw, id, reason] of damaged) {
      const entry = dead.find(
        (d) => (id.endsWith('-') ? d.id.startsWith(id) && d.record.length === raw.length : d.id === id),
      );
      expect(entry).toBeDefined();
      expect(entry!.error.message).toContain(reason);
      expect(entry!.error.name).toBe('MalformedJobError');
      expect(entry!.record.startsWith(raw.split(SEP)[0])).toBe(true); // the stored bytes are kept for inspection
    }
    expect(await worker.inspector.counts('inbox')).toEqual({ ready: 0, delayed: 0, active: 0, dead: damaged.length });
    redis.disconnect();
    await worker.close();
  });
});
