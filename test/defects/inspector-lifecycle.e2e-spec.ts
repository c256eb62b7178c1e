// Issue 11, defect 3: QueueInspector called right after init() rejected with a raw ioredis error
// ("Stream isn't writeable and enableOfflineQueue options is false"), so a health check run at startup
// failed. Defect 10 (first item): called after app.close(), it silently opened a new connection that
// kept the process alive.
import { freePort } from 'nestjs-redis-queue/testing';
import { ChildScript } from '../support/child.js';
import { bootApp, connectionNames, expectQueueError, rawClient, redisUrl, rejectionOf, sleep, uniquePrefix, within } from './support.js';

describe('QueueInspector at startup', () => {
  // Three fresh apps: the race is lost only while the connection is still opening, right after init().
  it.each([1, 2, 3])('answers counts, deadJobs and deadJob called right after init() (app %i)', async () => {
    const q = await bootApp([], { consumers: false }, { waitForInspector: false });
    try {
      const [counts, dead, one] = await Promise.all([
        q.inspector.counts('health'),
        q.inspector.deadJobs('health'),
        q.inspector.deadJob('health', 'nope'),
      ]);
      expect(counts).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
      expect(dead).toEqual([]);
      expect(one).toBeUndefined();
    } finally {
      await q.close();
    }
  });

  it('rejects with a RedisQueueError, not a raw client error, when Redis cannot be reached', async () => {
    // Nothing listens on this port: the connection never becomes ready.
    const q = await bootApp([], { consumers: false, connection: `redis://127.0.0.1:${await freePort()}`, commandTimeout: 300 }, { waitForInspector: false });
    try {
      const errors = await Promise.all([
        rejectionOf(q.inspector.counts('health')),
        rejectionOf(q.inspector.deadJobs('health')),
        rejectionOf(q.inspector.deadJob('health', 'nope')),
      ]);
      for (const error of errors) expectQueueError(error);
    } finally {
      await q.close();
    }
  });
});

describe('QueueInspector after app.close()', () => {
  // In a process of its own: the defect kept the process alive, which would keep this one alive too.
  it('rejects clearly instead of opening a new connection that keeps the process alive', async () => {
    const prefix = uniquePrefix('after-close');
    const child = ChildScript.start('test/defects/fixtures/inspector-after-close.ts', { REDIS_URL: redisUrl(), RQ_PREFIX: prefix });
    const redis = rawClient();
    try {
      const line = await child.waitForLine(/^result /, 30_000);
      const result = JSON.parse(line.slice('result '.length)) as { name?: string; message?: string; isRedisQueueError?: boolean };
      // A connection opened by that call would announce itself by name within a few ms; the check waits far
      // longer (which only makes it more likely to catch one: a correct inspector opens none at all).
      await sleep(500);
      const opened = (await connectionNames(redis)).filter((name) => name.startsWith(prefix));
      // Nothing else to do in the child: it exits by itself unless something keeps it alive. The deadline
      // is a guard; a correct process is gone within milliseconds.
      const exited = await within(child.exited.then(() => true), 15_000, false);
      expect({ opened, exitedByItself: exited, result }).toEqual({
        opened: [],
        exitedByItself: true,
        result: { name: expect.any(String), message: expect.stringMatching(/clos/i), isRedisQueueError: true },
      });
    } finally {
      redis.disconnect();
      await child.kill('SIGKILL');
    }
  }, 60_000);
});
