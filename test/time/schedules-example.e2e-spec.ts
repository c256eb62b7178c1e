// Runs the README's "Schedules, timeouts and debounce" examples (examples/schedules) against real Redis.
import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { QueueInspector, QueueProducer, RedisQueueModule } from 'nestjs-redis-queue';
import { DigestHandlers } from '../../examples/schedules/digest.handlers.js';
import { DigestMailer } from '../../examples/schedules/digest.mailer.js';
import { RemindersService } from '../../examples/schedules/reminders.service.js';
import { SearchIndexService } from '../../examples/schedules/search-index.service.js';
import { redisUrl, uniquePrefix, waitFor } from '../support/helpers.js';

describe('schedules, timeouts and debounce examples (README)', () => {
  let app: INestApplicationContext;
  let inspector: QueueInspector;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [RedisQueueModule.forRoot({ connection: redisUrl(), prefix: uniquePrefix('examples-time'), checkRedisConfig: false })],
      providers: [DigestHandlers, DigestMailer, RemindersService, SearchIndexService],
    }).compile();
    app = await moduleRef.init();
    inspector = app.get(QueueInspector);
  });
  afterAll(() => app.close());

  it('declares the weekday digest at 08:00 Paris time, and its handler sends what a tick enqueues', async () => {
    await waitFor(async () => (await inspector.schedules('digest')).length === 1, 10_000, 'the declared schedule');
    const [digest] = await inspector.schedules('digest');
    expect(digest).toMatchObject({ name: 'weekday-morning', cron: '0 8 * * 1-5', timeZone: 'Europe/Paris', source: 'decorator', missed: 'once' });
    const next = digest.nextRunAt!;
    const inParis = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', weekday: 'short', hour: '2-digit', minute: '2-digit' }).format(next);
    expect(inParis).toMatch(/^(Mon|Tue|Wed|Thu|Fri) 08:00$/);
    // What the tick's job will carry, run now.
    await app.get(QueueProducer).enqueue('digest', { edition: 'morning' });
    await waitFor(() => app.get(DigestMailer).sent.length === 1, 10_000, 'the digest');
    expect(app.get(DigestMailer).sent).toEqual(['morning']);
  });

  it('starts, replaces and stops a per-customer reminder schedule', async () => {
    const reminders = app.get(RemindersService);
    expect(await reminders.start('42', 15)).toBe(true);
    expect(await reminders.start('42', 15)).toBe(false); // unchanged: keeps its next run
    expect(await reminders.start('42', 30)).toBe(true);
    expect(await inspector.schedules('reminders')).toEqual([
      expect.objectContaining({ name: 'customer-42', every: 30 * 60_000, missed: 'skip', source: 'api' }),
    ]);
    expect(await reminders.stop('42')).toBe(true);
    expect(await reminders.stop('42')).toBe(false);
    expect(await inspector.schedules('reminders')).toEqual([]);
  });

  it('collapses a burst of profile edits into one reindex job with the last payload', async () => {
    const search = app.get(SearchIndexService);
    const ids = [await search.userChanged(7, ['name']), await search.userChanged(7, ['email']), await search.userChanged(7, ['avatar'])];
    expect(new Set(ids).size).toBe(1);
    expect(await search.userChanged(8, ['name'])).not.toBe(ids[0]);
    const { jobs } = await inspector.jobs('reindex-user', 'delayed');
    expect(jobs.map((j) => [j.id, j.payload])).toEqual([
      [ids[0], { userId: 7, fields: ['avatar'] }],
      [expect.any(String), { userId: 8, fields: ['name'] }],
    ]);
  });
});
