import { jest } from '@jest/globals';
import fc from 'fast-check';
import { RedisClock } from './redis-clock.js';
import type { RedisClient } from './redis-client.js';

// The samples come from claim replies: learn() and msUntil() never use the connection (read() does).
const clockAt = (now: { ms: number }) => {
  jest.spyOn(Date, 'now').mockImplementation(() => now.ms);
  return new RedisClock({} as RedisClient);
};

afterEach(() => jest.restoreAllMocks());

describe('RedisClock samples from replies', () => {
  it('never makes a wait end after Redis reached the time, wherever in the round trip Redis read its clock', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -600_000, max: 600_000 }), // Redis's clock minus this machine's
        fc.integer({ min: 0, max: 200 }), // until Redis reads its clock
        fc.integer({ min: 0, max: 200 }), // until the reply is read here
        fc.integer({ min: 0, max: 10_000 }), // how far ahead the due time is
        (offset, toRead, toReply, ahead) => {
          const now = { ms: 1_700_000_000_000 };
          const clock = clockAt(now);
          const sentAt = now.ms;
          const redisRead = sentAt + toRead + offset;
          now.ms = sentAt + toRead + toReply;
          clock.learn(redisRead, sentAt);
          const due = now.ms + offset + ahead; // on Redis's clock
          const trueWait = due - (now.ms + offset);
          expect(clock.msUntil(due)).toBeLessThanOrEqual(trueWait);
          expect(clock.msUntil(due)).toBeGreaterThanOrEqual(trueWait - (toRead + toReply));
          jest.restoreAllMocks();
        },
      ),
    );
  });

  it('keeps the sample with the shortest round trip until a minute has passed', () => {
    const now = { ms: 1_000_000 };
    const clock = clockAt(now);
    const firstSent = now.ms;
    now.ms += 2; // offset 5 s; Redis read its clock 1 ms after the call left, the reply was read 1 ms later
    clock.learn(firstSent + 1 + 5_000, firstSent);
    expect(clock.now()).toBe(now.ms + 5_000);
    // A reply that waited 400 ms in a busy event loop: its midpoint is 200 ms off, and it is not taken.
    const sentAt = now.ms;
    now.ms += 400;
    clock.learn(sentAt + 5_000 + 1, sentAt);
    expect(clock.now()).toBe(now.ms + 5_000);
    // After a minute any sample replaces it (here the clock was stepped by 3 s meanwhile).
    now.ms += 61_000;
    clock.learn(now.ms + 2_000, now.ms);
    expect(clock.now()).toBe(now.ms + 2_000);
  });

  it('ignores a reply without a time (a script of an older release)', () => {
    const now = { ms: 1_000_000 };
    const clock = clockAt(now);
    clock.learn(Number(undefined), now.ms);
    clock.learn(0, now.ms);
    expect(clock.now()).toBe(now.ms);
    expect(clock.msUntil(now.ms + 100)).toBe(100);
  });
});
