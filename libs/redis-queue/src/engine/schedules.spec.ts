import fc from 'fast-check';
import { InvalidOptionError, InvalidPayloadError } from './errors.js';
import { assertScheduleName, parseSchedule, tickAfter } from './schedules.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** The ticks of a schedule from `from` (exclusive) up to `to`, each computed from the previous one as the Scheduler does. */
function ticks(s: { cron?: string; every?: number; tz?: string }, from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = tickAfter(s, at(from)); t !== undefined && t <= at(to); t = tickAfter(s, t)) out.push(iso(t)!);
  return out;
}

/** The local calendar day of `ms` in `timeZone`, as YYYY-MM-DD. */
function localDay(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms);
}

describe('tickAfter: every', () => {
  it('ticks on multiples of the interval since the epoch, strictly after `from`', () => {
    expect(tickAfter({ every: 1000 }, 1234)).toBe(2000);
    expect(tickAfter({ every: 1000 }, 2000)).toBe(3000); // a tick itself is not "after" itself
    expect(tickAfter({ every: 1000 }, 1999)).toBe(2000);
    expect(tickAfter({ every: 10 }, 0)).toBe(10);
  });

  it('every instance computes the same tick, whenever in the interval it looks (no drift, no leader)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 10, max: 366 * 86_400_000 }),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        (every, a, b) => {
          const next = tickAfter({ every }, a)!;
          expect(next).toBeGreaterThan(a);
          expect(next - a).toBeLessThanOrEqual(every);
          expect(next % every).toBe(0);
          // Another instance looking at any moment of the same interval gets the same tick.
          const other = Math.floor(a / every) * every + (b % every);
          expect(tickAfter({ every }, other)).toBe(next);
        },
      ),
    );
  });

  it('aligns hours and days to UTC (every is plain milliseconds: no time zone, no daylight saving)', () => {
    expect(iso(tickAfter({ every: 3_600_000 }, at('2025-06-01T10:17:00Z')))).toBe('2025-06-01T11:00:00.000Z');
    expect(iso(tickAfter({ every: 86_400_000 }, at('2025-06-01T10:17:00Z')))).toBe('2025-06-02T00:00:00.000Z');
    // A week is aligned to the epoch, a Thursday.
    expect(iso(tickAfter({ every: 7 * 86_400_000 }, at('2025-01-01T00:00:00Z')))).toBe('2025-01-02T00:00:00.000Z');
    // On the fall-back night in New York an hourly `every` still ticks each real hour: 25 ticks that local day.
    const day = ticks({ every: 3_600_000 }, '2025-11-02T03:59:59Z', '2025-11-03T04:59:59Z');
    expect(day.filter((t) => localDay(at(t), 'America/New_York') === '2025-11-02')).toHaveLength(25);
  });
});

describe('tickAfter: cron', () => {
  it('reads 5 fields to the minute, in UTC by default, strictly after `from`', () => {
    expect(iso(tickAfter({ cron: '0 8 * * *' }, at('2025-06-01T07:59:59Z')))).toBe('2025-06-01T08:00:00.000Z');
    expect(iso(tickAfter({ cron: '0 8 * * *' }, at('2025-06-01T08:00:00Z')))).toBe('2025-06-02T08:00:00.000Z');
    expect(iso(tickAfter({ cron: '0 8 * * MON-FRI' }, at('2025-06-06T09:00:00Z')))).toBe('2025-06-09T08:00:00.000Z'); // Friday -> Monday
    expect(iso(tickAfter({ cron: '0 0 L * *' }, at('2025-02-03T00:00:00Z')))).toBe('2025-02-28T00:00:00.000Z');
  });

  it('reads 6 fields with seconds first', () => {
    expect(ticks({ cron: '*/15 * * * * *' }, '2025-01-01T00:00:07.500Z', '2025-01-01T00:01:00Z')).toEqual([
      '2025-01-01T00:00:15.000Z',
      '2025-01-01T00:00:30.000Z',
      '2025-01-01T00:00:45.000Z',
      '2025-01-01T00:01:00.000Z',
    ]);
    expect(iso(tickAfter({ cron: '30 0 8 * * *' }, at('2025-06-01T08:00:00Z')))).toBe('2025-06-01T08:00:30.000Z');
  });

  it('a per-second cron ticks on the same whole seconds as every: 1000', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }), (from) => {
        expect(tickAfter({ cron: '* * * * * *' }, from)).toBe(tickAfter({ every: 1000 }, from));
      }),
      { numRuns: 200 },
    );
  });

  it('runs in the schedule time zone, following its offset through the year', () => {
    // 08:00 in Paris is 07:00 UTC in winter (CET) and 06:00 UTC in summer (CEST).
    expect(iso(tickAfter({ cron: '0 8 * * *', tz: 'Europe/Paris' }, at('2025-01-15T00:00:00Z')))).toBe('2025-01-15T07:00:00.000Z');
    expect(iso(tickAfter({ cron: '0 8 * * *', tz: 'Europe/Paris' }, at('2025-07-15T00:00:00Z')))).toBe('2025-07-15T06:00:00.000Z');
    expect(iso(tickAfter({ cron: '0 8 * * *', tz: 'America/New_York' }, at('2025-01-15T00:00:00Z')))).toBe('2025-01-15T13:00:00.000Z');
    // Half-hour offsets, and a zone whose day starts before UTC's.
    expect(iso(tickAfter({ cron: '0 9 * * *', tz: 'Asia/Kolkata' }, at('2025-01-01T00:00:00Z')))).toBe('2025-01-01T03:30:00.000Z');
    expect(iso(tickAfter({ cron: '0 0 * * *', tz: 'Pacific/Auckland' }, at('2025-01-01T00:00:00Z')))).toBe('2025-01-01T11:00:00.000Z');
    // The same instant is the same tick for every instance, whatever zone its machine is in (TZ is not read).
    expect(tickAfter({ cron: '0 8 * * *', tz: 'Europe/Paris' }, at('2025-01-15T00:00:00Z'))).toBe(at('2025-01-15T08:00:00+01:00'));
  });

  it('gives undefined for a cron with no future run', () => {
    expect(tickAfter({ cron: '0 0 30 2 *' }, at('2025-01-01T00:00:00Z'))).toBeUndefined(); // February 30th
    expect(tickAfter({}, 0)).toBeUndefined();
  });
});

describe('tickAfter: daylight saving', () => {
  // The Scheduler computes each tick from the previous one, so these chains are the ticks a schedule fires.

  it('spring forward: a daily 02:30 that does not exist that night runs once, at 03:00 (the first moment after the jump)', () => {
    // Europe/Paris, 2025-03-30: clocks jump from 02:00 CET to 03:00 CEST.
    const paris = ticks({ cron: '30 2 * * *', tz: 'Europe/Paris' }, '2025-03-28T12:00:00Z', '2025-04-01T12:00:00Z');
    expect(paris).toEqual([
      '2025-03-29T01:30:00.000Z', // 02:30 CET
      '2025-03-30T01:00:00.000Z', // 03:00 CEST: once, not zero times
      '2025-03-31T00:30:00.000Z', // 02:30 CEST
      '2025-04-01T00:30:00.000Z',
    ]);
    // America/New_York, 2025-03-09: clocks jump from 02:00 EST to 03:00 EDT.
    const ny = ticks({ cron: '30 2 * * *', tz: 'America/New_York' }, '2025-03-07T12:00:00Z', '2025-03-10T12:00:00Z');
    expect(ny).toEqual(['2025-03-08T07:30:00.000Z', '2025-03-09T07:00:00.000Z' /* 03:00 EDT */, '2025-03-10T06:30:00.000Z']);
    for (const [tz, list, day] of [['Europe/Paris', paris, '2025-03-30'], ['America/New_York', ny, '2025-03-09']] as const) {
      expect(list.filter((t) => localDay(at(t), tz) === day)).toHaveLength(1);
    }
  });

  it('fall back: a daily 02:30 that happens twice that night runs once', () => {
    // Europe/Paris, 2025-10-26: clocks go back from 03:00 CEST to 02:00 CET, so 02:30 happens twice.
    const paris = ticks({ cron: '30 2 * * *', tz: 'Europe/Paris' }, '2025-10-24T12:00:00Z', '2025-10-28T12:00:00Z');
    expect(paris).toEqual([
      '2025-10-25T00:30:00.000Z', // 02:30 CEST
      '2025-10-26T00:30:00.000Z', // 02:30 CEST, the first of the two; 01:30Z (02:30 CET) does not run
      '2025-10-27T01:30:00.000Z',
      '2025-10-28T01:30:00.000Z',
    ]);
    // America/New_York, 2025-11-02: 01:30 happens twice (EDT, then EST): the first runs.
    const ny = ticks({ cron: '30 1 * * *', tz: 'America/New_York' }, '2025-10-31T12:00:00Z', '2025-11-04T12:00:00Z');
    expect(ny).toEqual([
      '2025-11-01T05:30:00.000Z',
      '2025-11-02T05:30:00.000Z', // 01:30 EDT, the first of the two; 06:30Z (01:30 EST) does not run
      '2025-11-03T06:30:00.000Z',
      '2025-11-04T06:30:00.000Z',
    ]);
    for (const [tz, list, day] of [['Europe/Paris', paris, '2025-10-26'], ['America/New_York', ny, '2025-11-02']] as const) {
      expect(list.filter((t) => localDay(at(t), tz) === day)).toHaveLength(1);
    }
  });

  it('never ticks twice or goes backwards through a transition (chains from each tick are strictly increasing)', () => {
    const crons = ['30 2 * * *', '30 1 * * *', '0 * * * *', '*/15 * * * *', '0 3 * * *', '*/20 * * * * *'];
    const nights = [
      ['Europe/Paris', '2025-03-29T20:00:00Z'],
      ['Europe/Paris', '2025-10-25T20:00:00Z'],
      ['America/New_York', '2025-03-09T02:00:00Z'],
      ['America/New_York', '2025-11-02T04:00:00Z'],
      ['Australia/Sydney', '2025-04-05T12:00:00Z'],
      ['Australia/Sydney', '2025-10-04T12:00:00Z'],
    ];
    for (const [tz, start] of nights) {
      for (const cron of crons) {
        const hours = cron.split(' ').length === 6 ? 3 : 8;
        const seen = ticks({ cron, tz }, start, iso(at(start) + hours * 3_600_000)!).map(at);
        expect(seen.length).toBeGreaterThan(0);
        for (let i = 1; i < seen.length; i++) expect({ cron, tz, step: seen[i] - seen[i - 1] > 0 }).toEqual({ cron, tz, step: true });
      }
    }
  });

  // BUG (croner 9.1, used as is by tickAfter): during the repeated hour of a fall-back night in a zone west
  // of UTC, Cron.nextRun(from) returns a run *before* `from` (here 05:30Z, 01:30 EDT, for any `from` in
  // 06:00Z-06:30Z). tickAfter promises "the first tick strictly after `from`", and the Scheduler relies on
  // it: ScheduleStore.upsert stores `next = tickAfter(now)`, and a missed tick fires with
  // `next = tickAfter(now)`. Both then store a `next` in the past; fire() sees it missed again, stores the
  // same `next`, and arm() returns early because that tick is already armed: the schedule stops ticking in
  // every process until it is changed or the process restarts (and `missed: 'once'` runs a job for a tick
  // from before the schedule existed). croner 11 returns 2025-11-03T06:30Z here.
  it('is strictly after `from` during the repeated hour of a fall-back night (America/New_York)', () => {
    for (const cron of ['30 1 * * *', '45 1 * * *', '*/15 * * * *', '*/20 * * * * *']) {
      for (let from = at('2025-11-02T06:00:00Z'); from < at('2025-11-02T07:00:00Z'); from += 60_000) {
        const next = tickAfter({ cron, tz: 'America/New_York' }, from + 7000);
        expect({ cron, from: iso(from + 7000), after: next! > from + 7000 }).toEqual({ cron, from: iso(from + 7000), after: true });
      }
    }
  });

  // BUG (croner 9.1): a sub-hourly cron skips the repeated hour of a fall-back night: `*/15 * * * *` in
  // New York goes from 01:45 EDT (05:45Z) straight to 02:00 EST (07:00Z), 75 minutes without a tick (in
  // Paris the first 02:xx hour, CEST, is skipped the same way). Cron's own convention (Vixie cron's DST
  // rule, which croner 11 follows) keeps jobs whose hour is a wildcard on real time through the change and
  // moves only fixed-time jobs. Expected: every real quarter hour.
  it('a sub-hourly cron keeps ticking every real quarter hour through the repeated hour', () => {
    const ny = ticks({ cron: '*/15 * * * *', tz: 'America/New_York' }, '2025-11-02T05:00:00Z', '2025-11-02T07:30:00Z');
    expect(ny).toEqual(Array.from({ length: 10 }, (_, i) => iso(at('2025-11-02T05:15:00Z') + i * 900_000)));
  });
});

describe('parseSchedule', () => {
  it('stores what defines the ticks and the job of each, with the missed-tick policy defaulting to once', () => {
    const { stored, fingerprint } = parseSchedule({ cron: '0 8 * * *', timeZone: 'Europe/Paris', payload: { kind: 'daily' } }, 'api');
    expect(stored).toEqual({ source: 'api', missed: 'once', payload: '{"kind":"daily"}', options: {}, cron: '0 8 * * *', tz: 'Europe/Paris' });
    expect(parseSchedule({ every: 1000, missed: 'skip' }, 'decorator').stored).toEqual({ source: 'decorator', missed: 'skip', payload: 'null', options: {}, every: 1000 });
    // The fingerprint says whether a schedule changed (an unchanged one keeps its next and last run).
    expect(parseSchedule({ cron: '0 8 * * *', timeZone: 'Europe/Paris', payload: { kind: 'daily' } }, 'api').fingerprint).toBe(fingerprint);
    expect(parseSchedule({ cron: '0 8 * * *', timeZone: 'Europe/Paris', payload: { kind: 'weekly' } }, 'api').fingerprint).not.toBe(fingerprint);
    expect(parseSchedule({ cron: '0 8 * * *', timeZone: 'Europe/Paris', payload: { kind: 'daily' } }, 'decorator').fingerprint).not.toBe(fingerprint);
  });

  it('keeps the enqueue options of each tick job', () => {
    const { stored } = parseSchedule({ every: 60_000, options: { attempts: 2, priority: 1, timeout: 5000, track: true } }, 'api');
    expect(stored.options).toEqual({ attempts: 2, priority: 1, timeout: 5000, track: true });
  });

  it.each([
    [{}, 'schedule', 'exactly one of "cron" or "every"'],
    [{ cron: '* * * * *', every: 1000 }, 'schedule', 'exactly one of "cron" or "every"'],
    [null, 'schedule', 'must be an object'],
    [{ cron: 5 }, 'schedule.cron', 'must be a cron expression'],
    [{ cron: '61 * * * *' }, 'schedule.cron', 'is not a valid cron expression'],
    [{ cron: '* * * * * * *' }, 'schedule.cron', 'must have 5 fields'],
    [{ every: 5 }, 'schedule.every', 'from 10 to'],
    [{ every: 1000.5 }, 'schedule.every', 'integer'],
    [{ every: '1000' }, 'schedule.every', 'integer'],
    [{ every: 367 * 86_400_000 }, 'schedule.every', 'from 10 to'],
    [{ every: 1000, timeZone: 'Europe/Paris' }, 'schedule.timeZone', 'goes with "cron" only'],
    [{ cron: '0 8 * * *', timeZone: 'Mars/Olympus_Mons' }, 'schedule.timeZone', 'is not an IANA time zone'],
    [{ every: 1000, missed: 'all' }, 'schedule.missed', "must be 'skip' or 'once'"],
    [{ every: 1000, timezone: 'UTC' }, 'schedule.timezone', 'did you mean "timeZone"?'],
    // The schedule sets these for each tick (FORBIDDEN_TICK_OPTIONS' own message is never reached: the list
    // of known options refuses them first).
    [{ every: 1000, options: { delay: 5 } }, 'schedule.options.delay', 'is not a known option'],
    [{ every: 1000, options: { jobId: 'x' } }, 'schedule.options.jobId', 'is not a known option'],
    [{ every: 1000, options: { runAt: new Date() } }, 'schedule.options.runAt', 'is not a known option'],
    [{ every: 1000, options: { debounce: { key: 'k', delay: 10 } } }, 'schedule.options.debounce', 'is not a known option'],
    [{ every: 1000, options: { attempts: 0 } }, 'schedule.options.attempts', 'from 1'],
    [{ every: 1000, options: { timeout: 0 } }, 'schedule.options.timeout', 'from 1'],
  ])('rejects %j naming %s', (spec, field, problem) => {
    let error: unknown;
    try {
      parseSchedule(spec, 'api');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).field).toBe(field);
    expect((error as InvalidOptionError).message).toContain(problem);
  });

  // BUG (small): the values of a tick job's options are checked by parseEnqueueOptions without the
  // schedule's path, so the error names "attempts" where the user wrote schedule.options.attempts (next to
  // a handler-level `attempts`, which one is wrong?). Expected: the full path, as for the keys above.
  it('names a bad tick-job option value with its path', () => {
    expect(() => parseSchedule({ every: 1000, options: { attempts: 0 } }, 'api')).toThrow('Invalid option "schedule.options.attempts"');
  });

  it('checks the payload as a job payload (JSON only, size limit)', () => {
    expect(() => parseSchedule({ every: 1000, payload: { n: 1n } }, 'api')).toThrow(InvalidPayloadError);
    expect(() => parseSchedule({ every: 1000, payload: 'x'.repeat(100) }, 'api', 'schedule', 50)).toThrow(InvalidPayloadError);
  });

  it('prefixes fields with the given path (the handler option)', () => {
    expect(() => parseSchedule({ every: 1 }, 'decorator', 'queues.report.schedule')).toThrow('Invalid option "queues.report.schedule.every"');
  });
});

describe('assertScheduleName', () => {
  it.each(['daily', 'daily report', 'report:eu-west.1', 'a'.repeat(100), '9am'])('accepts %j', (name) => {
    expect(() => assertScheduleName(name)).not.toThrow();
  });

  it.each(['', ' leading', 'a{b}', 'a\nb', 'a'.repeat(101), 'name@tick', 5, undefined])('rejects %j naming "name"', (name) => {
    expect(() => assertScheduleName(name)).toThrow('Invalid option "name"');
  });
});
