import fc from 'fast-check';
import { InvalidOptionError } from './errors.js';
import { parseEnqueueOptions } from './job-options.js';

describe('parseEnqueueOptions', () => {
  it('defaults to ready now', () => {
    expect(parseEnqueueOptions(undefined)).toEqual({ delayMs: 0, stored: {} });
  });

  it('turns runAt into a delay on the producer clock, never negative', () => {
    expect(parseEnqueueOptions({ runAt: new Date(10_500) }, 10_000).delayMs).toBe(500);
    expect(parseEnqueueOptions({ runAt: new Date(5_000) }, 10_000).delayMs).toBe(0);
  });

  it('keeps only explicit job options for storage', () => {
    expect(parseEnqueueOptions({ attempts: 2, jobId: 'a-1', traceId: 't' })).toEqual({
      delayMs: 0,
      stored: { attempts: 2 },
      jobId: 'a-1',
      traceId: 't',
    });
  });

  it.each([
    [{ delay: -5 }, 'delay'],
    [{ delay: '5' }, 'delay'],
    [{ runAt: 'tomorrow' }, 'runAt'],
    [{ runAt: new Date(Number.NaN) }, 'runAt'],
    [{ delay: 1, runAt: new Date() }, 'runAt'],
    [{ attempts: 0 }, 'attempts'],
    [{ attempts: 1.5 }, 'attempts'],
    [{ backoff: { type: 'fixed' } }, 'backoff.delay'],
    [{ jobId: '' }, 'jobId'],
    [{ traceId: 'a\u0000' }, 'traceId'],
    [{ dealy: 100 }, 'dealy'],
  ])('rejects %p naming "%s"', (options, field) => {
    try {
      parseEnqueueOptions(options);
      throw new Error('expected a rejection');
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).field).toBe(field);
    }
  });

  it('suggests the closest known option name', () => {
    expect(() => parseEnqueueOptions({ atempts: 3 })).toThrow('did you mean "attempts"?');
  });

  it('either parses or throws InvalidOptionError, for any input', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            delay: fc.oneof(fc.integer({ min: -10, max: 1e6 }), fc.double(), fc.string()),
            attempts: fc.oneof(fc.integer({ min: -2, max: 2000 }), fc.constant(null)),
            jobId: fc.string({ maxLength: 250 }),
            extra: fc.anything(),
          },
          { requiredKeys: [] },
        ),
        (options) => {
          try {
            const parsed = parseEnqueueOptions(options, 0);
            expect(parsed.delayMs).toBeGreaterThanOrEqual(0);
            expect(Number.isInteger(parsed.delayMs)).toBe(true);
          } catch (error) {
            expect(error).toBeInstanceOf(InvalidOptionError);
          }
        },
      ),
    );
  });
});
