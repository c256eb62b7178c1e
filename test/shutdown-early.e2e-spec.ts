import { LoggerService } from '@nestjs/common';
import { Redis } from 'ioredis';
import { freePort, RedisServer } from 'nestjs-redis-queue/testing';
import { createClient, QueueLogger, RedisClient, whenReady } from '../libs/redis-queue/src/engine/index.js';
import { checkRedisDurability } from '../libs/redis-queue/src/redis-config.check.js';
import { ChildScript } from './support/child.js';
import { redisUrl, uniquePrefix } from './support/helpers.js';

/** A logger that keeps what it was told. */
function recordingLogger(): LoggerService & QueueLogger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: unknown) => void lines.push(`${level}: ${String(message)}`);
  return { lines, log: keep('log'), warn: keep('warn'), error: keep('error'), debug: keep('debug') };
}

/** How many CONFIG commands the server ran (the durability check's; ioredis's ready check sends INFO only). */
async function configCalls(admin: Redis): Promise<number> {
  const stats = await admin.info('commandstats');
  return Number(/cmdstat_config(?:\|get)?:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

describe('closing an app right after init()', () => {
  it('leaves no timer holding the process and sends no command after close(), wherever its connections were', async () => {
    const child = ChildScript.start('test/fixtures/close-right-after-init.ts', { REDIS_URL: redisUrl(), RQ_PREFIX: uniquePrefix('early') });
    const line = await child.waitForLine(/^\{/, 60_000);
    expect(await child.exited).toBe(0);
    const reports = JSON.parse(line) as Record<string, { timersHoldingTheProcess: number[]; sentAfterClose: string[] }>;
    expect(Object.keys(reports).length).toBeGreaterThan(3);
    for (const [pause, report] of Object.entries(reports)) {
      expect({ pause, ...report }).toEqual({ pause, timersHoldingTheProcess: [], sentAfterClose: [] });
    }
  });
});

describe('the startup durability check', () => {
  let server: RedisServer;
  let admin: Redis;
  const clients: RedisClient[] = [];
  const client = (url: string) => {
    const created = createClient(url, { role: 'producer', name: 'durability-check', commandTimeout: 5000, logger: recordingLogger() });
    clients.push(created);
    return created;
  };

  beforeAll(async () => {
    server = await RedisServer.start(); // its own server: the command counts are this file's alone
    admin = server.client();
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    admin.disconnect();
    await server.stop();
  });

  it('reads the configuration and warns about it while the app runs', async () => {
    const before = await configCalls(admin);
    const logger = recordingLogger();
    await checkRedisDurability(client(server.url), logger, new AbortController().signal);
    expect(await configCalls(admin)).toBe(before + 2);
    expect(logger.lines.some((l) => l.startsWith('warn:') && l.includes('persistence is off'))).toBe(true);
  });

  it('sends nothing once the app is shutting down', async () => {
    const stop = new AbortController();
    const checked = client(server.url);
    const logger = recordingLogger();
    const before = await configCalls(admin);
    const done = checkRedisDurability(checked, logger, stop.signal);
    stop.abort(); // shutdown begins while the check still waits for its connection
    await done;
    await whenReady(checked, 10_000, 'the test');
    await checked.ping(); // the connection is open: anything the check had sent would be counted by now
    expect(await configCalls(admin)).toBe(before);
    expect(logger.lines).toEqual([]);
  });

  it('stops waiting for an unreachable Redis as soon as the app shuts down', async () => {
    const stop = new AbortController();
    const done = checkRedisDurability(client(`redis://127.0.0.1:${await freePort()}`), recordingLogger(), stop.signal);
    stop.abort();
    await expect(done).resolves.toBeUndefined(); // without the abort it would wait its 30 s
  });

  it('says what bounds its wait when Redis stays unreachable (not commandTimeout)', async () => {
    const logger = recordingLogger();
    await checkRedisDurability(client(`redis://127.0.0.1:${await freePort()}`), logger, new AbortController().signal, 300);
    const line = logger.lines.find((l) => l.startsWith('debug:'));
    expect(line).toContain('Redis unreachable for 300 ms');
    expect(line).toContain('the startup durability check waits at most 300 ms');
    expect(line).not.toContain('commandTimeout');
  });
});
