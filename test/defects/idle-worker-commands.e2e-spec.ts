// Issue 11, defect 1: an idle worker whose earliest delayed job is 25 days or more away polled Redis
// without pause (~7,500 commands/s): Node's setTimeout fires after 1 ms for any delay over 2^31-1 ms.
import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { bootApp, commandDelta, commandsRun, expectAtMost, sleep, startOwnRedis, waitFor } from './support.js';

const DAY = 24 * 3_600_000;
const ran: string[] = [];

@Injectable()
class FarHandlers {
  @QueueHandler('far')
  async run(payload: { name: string }, _job: JobContext) {
    ran.push(payload.name);
  }
}

/**
 * The README promises "about one command every 5 seconds per queue" for an idle worker; the product
 * target is at most 1 per second per process. INFO commandstats counts every command Redis runs, those a
 * script runs included (one claim script is about 10), and over the 2 s window a worker may still be
 * finishing the round trip that made it idle (a claim carrying an acknowledgement, a blocking wait): 50
 * is far above any of that, and far below the thousands a polling worker sends. The window is a lower
 * bound on what a busy loop would show (a slow machine can only undercount), so it cannot fail a correct
 * worker.
 */
const MAX_IDLE_COMMANDS = 50;
const WINDOW_MS = 2000;

describe('idle worker with only far-future delayed jobs', () => {
  let server: RedisServer;
  let admin: Redis;

  // Its own Redis: INFO commandstats counts every client of the server, and other suites share the run's.
  beforeAll(async () => {
    server = await startOwnRedis();
    admin = server.client();
  });
  afterAll(async () => {
    admin.disconnect();
    await server.stop();
  });

  it.each([
    // Under the timer limit: this one held before the fix too; it shows the bound fits a correct worker.
    ['20 days', 20 * DAY],
    ['25 days (just past the 2^31-1 ms timer limit)', 25 * DAY],
    ['one year', 365 * DAY],
    ['ten years (the longest delay the README allows)', 3650 * DAY],
  ])('sends almost no commands while the earliest delayed job is %s away', async (label, delay) => {
    const q = await bootApp([FarHandlers], { connection: server.url });
    try {
      await q.producer.enqueue('far', { name: `due in ${label}` }, { delay });
      // A job enqueued after the far one has run: the worker has looked at the queue since the far job was
      // stored, so from here on it has nothing to do but wait.
      const marker = `marker for ${label}`;
      await q.producer.enqueue('far', { name: marker });
      await waitFor(() => ran.includes(marker), 10_000, 'the marker job');
      expect(await q.inspector.counts('far')).toEqual({ ready: 0, delayed: 1, active: 0, dead: 0 });

      const before = await commandsRun(admin);
      await sleep(WINDOW_MS);
      const after = await commandsRun(admin);
      const sent = commandDelta(before, after);
      sent.info = (sent.info ?? 0) - 1; // the first INFO of this test, counted in the second reading
      if (sent.info <= 0) delete sent.info;
      const total = Object.values(sent).reduce((n, c) => n + c, 0);
      expectAtMost(total, MAX_IDLE_COMMANDS, `commands run by Redis for an idle worker in ${WINDOW_MS} ms (${JSON.stringify(sent)})`);
      expect(ran).not.toContain(`due in ${label}`); // and it did not run early
    } finally {
      await q.close();
    }
  });
});
