import { Injectable, LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { execFileSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import {
  JobContext,
  QueueHandler,
  QueueInspector,
  QueueProducer,
  RedisQueueModule,
  RedisQueueModuleOptions,
} from 'nestjs-redis-queue';
import { freePort, RedisServer } from 'nestjs-redis-queue/testing';
import { redisUrl, uniquePrefix, waitFor } from './support/helpers.js';

const handled: Array<{ prefix: string; payload: unknown }> = [];

@Injectable()
class Handlers {
  constructor() {}

  @QueueHandler('email', { attempts: 1 })
  async send(payload: { to: string; secret?: string; fail?: boolean }, _job: JobContext) {
    handled.push({ prefix: currentPrefix, payload });
    if (payload.fail) throw new Error('smtp rejected the message');
  }
}
let currentPrefix = '';

/** Collects every log line the app writes. */
class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log = (m: unknown) => void this.lines.push(`log ${String(m)}`);
  warn = (m: unknown) => void this.lines.push(`warn ${String(m)}`);
  error = (m: unknown, stack?: unknown) => void this.lines.push(`error ${String(m)} ${stack ?? ''}`);
  debug = (m: unknown) => void this.lines.push(`debug ${String(m)}`);
  verbose = (m: unknown) => void this.lines.push(`verbose ${String(m)}`);
}

async function boot(options: RedisQueueModuleOptions, logger = new CapturingLogger(), providers: unknown[] = [Handlers]) {
  const moduleRef = await Test.createTestingModule({
    imports: [RedisQueueModule.forRoot(options)],
    providers: providers as never[],
  })
    .setLogger(logger)
    .compile();
  const app = await moduleRef.init();
  return { app, logger, producer: app.get(QueueProducer), inspector: app.get(QueueInspector) };
}

describe('TLS and ACL users', () => {
  let dir: string;
  let server: RedisServer;
  let tlsPort: number;
  let ca: Buffer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rq-tls-'));
    const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.crt');
    run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'redis.key', '-out', 'redis.csr');
    run('x509', '-req', '-in', 'redis.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', 'redis.crt');
    ca = readFileSync(join(dir, 'ca.crt'));
    tlsPort = await freePort();
    server = await RedisServer.start({
      args: [
        '--tls-port', String(tlsPort),
        '--tls-cert-file', join(dir, 'redis.crt'),
        '--tls-key-file', join(dir, 'redis.key'),
        '--tls-ca-cert-file', join(dir, 'ca.crt'),
        '--tls-auth-clients', 'no',
      ],
    });
    // A user that may touch only the keys of its prefix, and no dangerous command but INFO (ioredis's
    // ready check reads it).
    const admin = server.client();
    await admin.acl('SETUSER', 'mailer', 'on', '>s3cret-pass', '~mail:*', '&mail:*', '+@all', '-@dangerous', '+info');
    admin.disconnect();
  });

  afterAll(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the queue over rediss:// as an ACL user limited to its key pattern', async () => {
    currentPrefix = 'mail';
    const { app, producer, inspector, logger } = await boot({
      connection: { url: `rediss://mailer:s3cret-pass@127.0.0.1:${tlsPort}`, tls: { ca, servername: 'localhost' } },
      prefix: 'mail',
    });
    await producer.enqueue('email', { to: 'ada@example.com' }, { delay: 100 });
    await producer.enqueue('email', { to: 'bob@example.com', fail: true });
    await waitFor(() => handled.filter((h) => h.prefix === 'mail').length === 2, 10_000, 'both jobs over TLS');
    await waitFor(async () => (await inspector.counts('email')).dead === 1, 5000, 'the dead letter');
    expect(await inspector.counts('email')).toEqual({ ready: 0, delayed: 0, active: 0, dead: 1 });
    await app.close();
    // The durability check needs CONFIG, which this user lacks: that is reported, never fatal.
    expect(logger.lines.some((l) => /Could not read the Redis configuration/.test(l))).toBe(true);

    const client = server.client();
    await client.auth('mailer', 's3cret-pass');
    await expect(client.set('other:key', '1')).rejects.toThrow(/NOPERM/); // the limit is real
    client.disconnect();
  });

  it('rejects a wrong password with a clear error instead of hanging', async () => {
    const { app, producer } = await boot(
      {
        connection: { url: `rediss://mailer:wrong@127.0.0.1:${tlsPort}`, tls: { ca, servername: 'localhost' } },
        prefix: 'mail',
        consumers: false,
        commandTimeout: 1000,
      },
      new CapturingLogger(),
      [],
    );
    await expect(producer.enqueue('email', { to: 'x' })).rejects.toThrow(/WRONGPASS|unreachable/);
    await app.close();
  });
});

describe('isolation, warnings and logs', () => {
  it('apps with different prefixes on one Redis never see each other\'s jobs', async () => {
    const prefixA = uniquePrefix('a');
    const prefixB = uniquePrefix('b');
    currentPrefix = prefixA;
    const a = await boot({ connection: redisUrl(), prefix: prefixA, checkRedisConfig: false });
    const b = await boot({ connection: redisUrl(), prefix: prefixB, consumers: false, checkRedisConfig: false }, undefined, []);
    await b.producer.enqueueMany('email', [{ payload: { to: 'b1' } }, { payload: { to: 'b2' } }]);
    await a.producer.enqueue('email', { to: 'a1' });
    await waitFor(() => handled.some((h) => (h.payload as { to: string }).to === 'a1'), 5000, 'the job of app A');
    await new Promise((r) => setTimeout(r, 300));
    expect(handled.filter((h) => ['b1', 'b2'].includes((h.payload as { to: string }).to))).toEqual([]);
    expect((await b.inspector.counts('email')).ready).toBe(2);
    expect((await a.inspector.counts('email')).ready).toBe(0);
    await a.app.close();
    await b.app.close();
  });

  it('warns at startup when Redis may evict keys or has no persistence', async () => {
    const risky = await RedisServer.start({ args: ['--maxmemory-policy', 'allkeys-lru'] });
    try {
      const { app, logger } = await boot({ connection: risky.url, prefix: uniquePrefix(), consumers: false }, undefined, []);
      await waitFor(() => logger.lines.filter((l) => l.startsWith('warn')).length >= 2, 5000, 'two warnings');
      expect(logger.lines).toContainEqual(expect.stringContaining('maxmemory-policy is "allkeys-lru"'));
      expect(logger.lines).toContainEqual(expect.stringContaining('persistence is off'));
      await app.close();

      const safe = await RedisServer.start({ appendonly: true, args: ['--maxmemory-policy', 'noeviction'] });
      const quiet = await boot({ connection: safe.url, prefix: uniquePrefix(), consumers: false }, undefined, []);
      await quiet.producer.enqueue('email', { to: 'x' });
      await new Promise((r) => setTimeout(r, 200));
      expect(quiet.logger.lines.filter((l) => l.startsWith('warn'))).toEqual([]);
      await quiet.app.close();
      await safe.stop();
    } finally {
      await risky.stop();
    }
  });

  it('keeps payloads out of logs unless logPayloads is on', async () => {
    for (const logPayloads of [false, true]) {
      currentPrefix = uniquePrefix('logs');
      const { app, producer, inspector, logger } = await boot({
        connection: redisUrl(),
        prefix: currentPrefix,
        logPayloads,
        checkRedisConfig: false,
      });
      const id = await producer.enqueue('email', { to: 'ada@example.com', secret: 'card-4242-4242', fail: true });
      await waitFor(() => inspector.deadJob('email', id), 5000, 'the failure');
      await app.close();
      const text = logger.lines.join('\n');
      expect(text).toContain('smtp rejected the message'); // the failure itself is logged
      expect(text.includes('card-4242-4242')).toBe(logPayloads);
    }
  });
});
