import { defineQueue, InvalidOptionError } from './engine/index.js';
import { resolveOptions } from './redis-queue.options.js';

describe('resolveOptions', () => {
  it('fills every default', () => {
    expect(resolveOptions({ connection: 'redis://127.0.0.1:6379' })).toEqual({
      connection: 'redis://127.0.0.1:6379',
      prefix: 'rq',
      consumers: true,
      queues: {},
      defaults: { attempts: 3, backoff: { type: 'exponential', delay: 1000 } },
      shutdownTimeout: 10_000,
      leaseDuration: 30_000,
      commandTimeout: 5_000,
      maxPayloadBytes: 512 * 1024,
      validation: true,
      validatorOptions: { forbidUnknownValues: true },
      logPayloads: false,
      jobIdRetention: 3_600_000,
      checkRedisConfig: true,
      waitForReplicas: undefined,
      tracing: true,
    });
  });

  it('takes a list of consumed queues, names or tokens, once each', () => {
    const report = defineQueue<{ month: string }>('report');
    expect(resolveOptions({ connection: 'redis://x', consumers: ['email', report, 'email'] }).consumers).toEqual(['email', 'report']);
    expect(resolveOptions({ connection: 'redis://x', consumers: [] }).consumers).toEqual([]);
  });

  it('checks per-queue overrides with the handler option parsers', () => {
    const resolved = resolveOptions({
      connection: 'redis://x',
      queues: { email: { concurrency: 50, attempts: 8, backoff: { type: 'fixed', delay: 10 } }, report: { validate: false } },
    });
    expect(resolved.queues).toEqual({
      email: { concurrency: 50, attempts: 8, backoff: { type: 'fixed', delay: 10 } },
      report: { validate: false },
    });
  });

  it('keeps given values', () => {
    const resolved = resolveOptions({
      connection: { host: 'redis', port: 6380, password: 'secret' },
      prefix: 'app',
      consumers: false,
      defaults: { attempts: 5, backoff: { type: 'fixed', delay: 10 } },
      shutdownTimeout: 0,
    });
    expect(resolved.prefix).toBe('app');
    expect(resolved.consumers).toBe(false);
    expect(resolved.defaults).toEqual({ attempts: 5, backoff: { type: 'fixed', delay: 10 } });
    expect(resolved.shutdownTimeout).toBe(0);
  });

  it.each([
    [{}, 'connection', 'got nothing'],
    [{ connection: 'http://localhost' }, 'connection', 'redis:// or rediss://'],
    [{ connection: 'not a url' }, 'connection', 'redis:// or rediss://'],
    [{ connection: 'localhost:6379' }, 'connection', 'such as "redis://localhost:6379" (got "localhost:6379", which has no scheme)'],
    [{ connection: { cluster: [] } }, 'connection.cluster', 'non-empty'],
    [{ connection: 'redis://x', prefix: 'a{b}' }, 'prefix', 'letters, digits'],
    [{ connection: 'redis://x', consumers: 'no' }, 'consumers', 'true or false'],
    [{ connection: 'redis://x', shutdownTimeout: -1 }, 'shutdownTimeout', 'from 0'],
    [{ connection: 'redis://x', leaseDuration: 10 }, 'leaseDuration', 'from 100'],
    [{ connection: 'redis://x', maxPayloadBytes: 1.5 }, 'maxPayloadBytes', 'integer'],
    [{ connection: 'redis://x', defaults: { attempts: 0 } }, 'defaults.attempts', 'from 1 to 1000'],
    [{ connection: 'redis://x', defaults: { retries: 3 } }, 'defaults.retries', 'not a known option'],
    [{ connection: 'redis://x', consumer: false }, 'consumer', 'did you mean "consumers"'],
    [{ connection: 'redis://x', consumers: 'email' }, 'consumers', 'a list of queue names'],
    [{ connection: 'redis://x', consumers: ['email', 'a{b}'] }, 'consumers[1]', 'queue name'],
    [{ connection: 'redis://x', queues: [] }, 'queues', 'queue name -> handler options'],
    [{ connection: 'redis://x', queues: { 'a b': {} } }, 'queues.a b', 'letters, digits'],
    [{ connection: 'redis://x', queues: { email: { concurrency: 0 } } }, 'queues.email.concurrency', 'from 1 to 10000'],
    [{ connection: 'redis://x', queues: { email: { concurency: 2 } } }, 'queues.email.concurency', 'did you mean "concurrency"'],
    [{ connection: 'redis://x', queues: { email: { backoff: { type: 'linear' } } } }, 'queues.email.backoff.type', "'fixed' or 'exponential'"],
    [{ connection: 'redis://x', queues: { email: { attempts: 1.5 } } }, 'queues.email.attempts', 'from 1 to 1000'],
    [{ connection: 'redis://x', queues: { email: { schema: {} } } }, 'queues.email.schema', 'part of the handler code'],
    [{ connection: 'redis://x', queues: { email: 5 } }, 'queues.email', 'must be an object'],
  ])('rejects %j naming %s', (options, field, message) => {
    try {
      resolveOptions(options);
      throw new Error('expected a rejection');
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).field).toBe(field);
      expect((error as Error).message).toContain(message);
    }
  });

  it('never echoes a password from the URL', () => {
    expect(() => resolveOptions({ connection: 'http://user:hunter2@host' })).toThrow(InvalidOptionError);
    try {
      resolveOptions({ connection: 'rediss//user:hunter2@host' });
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
  });
});
