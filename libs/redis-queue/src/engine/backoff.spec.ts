import fc from 'fast-check';
import { backoffDelay, DEFAULT_MAX_BACKOFF, parseBackoff } from './backoff.js';
import { InvalidOptionError } from './errors.js';

describe('backoffDelay', () => {
  const noJitter = () => 0;

  it('doubles exponential delays per attempt', () => {
    const options = { type: 'exponential' as const, delay: 1000, jitter: 0 };
    expect([1, 2, 3, 4].map((a) => backoffDelay(options, a, noJitter))).toEqual([1000, 2000, 4000, 8000]);
  });

  it('keeps fixed delays fixed', () => {
    expect(backoffDelay({ type: 'fixed', delay: 250 }, 7, noJitter)).toBe(250);
  });

  it('caps at maxDelay, by default one hour', () => {
    expect(backoffDelay({ type: 'exponential', delay: 1000, maxDelay: 5000 }, 10, noJitter)).toBe(5000);
    expect(backoffDelay({ type: 'exponential', delay: 1000 }, 40, noJitter)).toBe(DEFAULT_MAX_BACKOFF);
  });

  it('jitter only ever shortens the delay, by at most the jitter fraction', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('fixed' as const, 'exponential' as const),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 1, max: 80 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        (type, delay, attempt, jitter, random) => {
          const base = backoffDelay({ type, delay, jitter: 0 }, attempt, noJitter);
          const jittered = backoffDelay({ type, delay, jitter }, attempt, () => random);
          expect(jittered).toBeLessThanOrEqual(base);
          expect(jittered).toBeGreaterThanOrEqual(Math.floor(base * (1 - jitter)) - 1);
          expect(Number.isFinite(jittered)).toBe(true);
        },
      ),
    );
  });
});

describe('parseBackoff', () => {
  it('accepts valid options', () => {
    expect(parseBackoff({ type: 'exponential', delay: 10, maxDelay: 100, jitter: 0.5 }, 'backoff')).toEqual({
      type: 'exponential',
      delay: 10,
      maxDelay: 100,
      jitter: 0.5,
    });
  });

  it.each([
    [{ type: 'linear', delay: 1 }, 'backoff.type'],
    [{ type: 'fixed', delay: -1 }, 'backoff.delay'],
    [{ type: 'fixed', delay: Number.NaN }, 'backoff.delay'],
    [{ type: 'fixed', delay: 1, maxDelay: '5' }, 'backoff.maxDelay'],
    [{ type: 'fixed', delay: 1, jitter: 2 }, 'backoff.jitter'],
    [{ type: 'fixed', delay: 1, dealy: 1 }, 'backoff.dealy'],
    ['exponential', 'backoff'],
  ])('rejects %j naming %s', (value, field) => {
    expect(() => parseBackoff(value, 'backoff')).toThrow(InvalidOptionError);
    try {
      parseBackoff(value, 'backoff');
    } catch (error) {
      expect((error as InvalidOptionError).field).toBe(field);
      expect((error as Error).message).toContain(`"${field}"`);
    }
  });
});
