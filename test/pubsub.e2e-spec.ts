import { Redis } from 'ioredis';
import { InvalidOptionError, RedisQueueError } from 'nestjs-redis-queue';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { FaultProxy } from '../bench/chaos/proxy.js';
import { publish, PubSub, PubSubSettings } from '../libs/redis-queue/src/engine/index.js';
import { rawClient, redisUrl, sleep, uniquePrefix, waitFor } from './support/helpers.js';

/** A QueueLogger that keeps its lines. */
function captureLog() {
  const lines: string[] = [];
  return {
    lines,
    logger: {
      log: (m: string) => void lines.push(`log ${m}`),
      warn: (m: string) => void lines.push(`warn ${m}`),
      error: (m: string) => void lines.push(`error ${m}`),
    },
  };
}

const subscribers: PubSub[] = [];
function subscriber(settings: Partial<PubSubSettings> & Pick<PubSubSettings, 'connection'>, log = captureLog()): PubSub {
  const pubsub = new PubSub({ name: uniquePrefix('sub'), logger: log.logger, ...settings });
  subscribers.push(pubsub);
  return pubsub;
}

/** Connections named `name` in CLIENT LIST. */
async function connectionsNamed(redis: Redis, name: string): Promise<number> {
  const list = (await redis.client('LIST')) as string;
  return list.split('\n').filter((line) => line.includes(` name=${name} `)).length;
}

async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const line of (await redis.info('commandstats')).split('\r\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) calls.set(match[1], Number(match[2]));
  }
  return calls;
}

afterEach(async () => {
  await Promise.all(subscribers.splice(0).map((s) => s.close()));
});

describe('PubSub (engine)', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = rawClient();
  });
  afterAll(() => redis.quit());

  it('delivers to every listener of a channel over one connection, and unsubscribes when the last one leaves', async () => {
    const name = uniquePrefix('sub');
    const pubsub = subscriber({ connection: redisUrl(), name });
    const prefix = uniquePrefix('ch');
    const a: string[] = [];
    const b: string[] = [];
    const other: string[] = [];
    const offA = pubsub.subscribe(`${prefix}:news`, (m) => void a.push(m));
    const offB = pubsub.subscribe(`${prefix}:news`, (m, channel) => void b.push(`${channel}=${m}`));
    pubsub.subscribe(`${prefix}:{q}:notify`, (m) => void other.push(m));
    await Promise.all([pubsub.whenSubscribed(`${prefix}:news`), pubsub.whenSubscribed(`${prefix}:{q}:notify`)]);
    expect(await connectionsNamed(redis, name)).toBe(1);
    expect(await redis.call('PUBSUB', 'NUMSUB', `${prefix}:news`)).toEqual([`${prefix}:news`, 1]);

    expect(await publish(redis, `${prefix}:news`, 'one')).toBe(1);
    await publish(redis, `${prefix}:{q}:notify`, 'wake');
    await waitFor(() => a.length === 1 && b.length === 1 && other.length === 1, 5000, 'three deliveries');
    expect({ a, b, other }).toEqual({ a: ['one'], b: [`${prefix}:news=one`], other: ['wake'] });

    offA();
    offA(); // twice: nothing more happens
    await publish(redis, `${prefix}:news`, 'two');
    await waitFor(() => b.length === 2, 5000, 'the second message');
    expect(a).toEqual(['one']);

    offB();
    await waitFor(async () => ((await redis.call('PUBSUB', 'NUMSUB', `${prefix}:news`)) as unknown[])[1] === 0, 5000, 'the UNSUBSCRIBE');
    expect(pubsub.subscribedChannels()).toEqual([`${prefix}:{q}:notify`]);
  });

  it('the same function subscribed twice runs twice; a throwing listener is logged and does not stop the others', async () => {
    const log = captureLog();
    const pubsub = subscriber({ connection: redisUrl() }, log);
    const channel = uniquePrefix('ch');
    const got: string[] = [];
    const listener = (m: string) => void got.push(m);
    pubsub.subscribe(channel, () => {
      throw new Error('listener bug');
    });
    pubsub.subscribe(channel, listener);
    const off = pubsub.subscribe(channel, listener);
    await pubsub.whenSubscribed(channel);
    await publish(redis, channel, 'x');
    await waitFor(() => got.length === 2, 5000, 'two deliveries');
    off();
    await publish(redis, channel, 'y');
    await waitFor(() => got.length === 3, 5000, 'one more delivery');
    expect(got).toEqual(['x', 'x', 'y']);
    expect(log.lines.filter((l) => l.includes('listener bug'))).toEqual([
      `error A listener of Pub/Sub channel "${channel}" threw: listener bug`,
      `error A listener of Pub/Sub channel "${channel}" threw: listener bug`,
    ]);
  });

  it('checks its arguments, and refuses new subscriptions once closed', async () => {
    const pubsub = subscriber({ connection: redisUrl() });
    expect(() => pubsub.subscribe('', () => undefined)).toThrow(InvalidOptionError);
    expect(() => pubsub.subscribe('x', 'nope' as never)).toThrow(/listener/);
    expect(() => new PubSub({ connection: redisUrl(), name: 'x', logger: captureLog().logger, healthCheckInterval: 0 })).toThrow(
      /healthCheckInterval/,
    );
    await expect(pubsub.whenSubscribed('never')).rejects.toThrow(RedisQueueError);
    await pubsub.close();
    expect(() => pubsub.subscribe('x', () => undefined)).toThrow(/closed/);
  });

  it('a close right after creating and subscribing leaves no socket or timer behind', async () => {
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    await settle();
    const count = () => {
      const resources = process.getActiveResourcesInfo();
      return { timers: resources.filter((r) => r === 'Timeout').length, sockets: resources.filter((r) => r.startsWith('TCP')).length };
    };
    const before = count();
    const never = new PubSub({ connection: redisUrl(), name: 'idle', logger: captureLog().logger });
    await never.close(); // never connected
    const pubsub = new PubSub({ connection: redisUrl(), name: 'quick', logger: captureLog().logger });
    pubsub.subscribe('quick-close', () => undefined);
    await pubsub.close();
    await waitFor(() => {
      const now = count();
      return now.timers <= before.timers && now.sockets <= before.sockets;
    }, 5000, 'the sockets and timers to be gone');

    const connected = new PubSub({ connection: redisUrl(), name: 'later', logger: captureLog().logger });
    connected.subscribe('later-close', () => undefined);
    await connected.whenSubscribed('later-close');
    await connected.close();
    await waitFor(() => {
      const now = count();
      return now.timers <= before.timers && now.sockets <= before.sockets;
    }, 5000, 'the sockets and timers of a connected subscriber to be gone');
  });

  it('a PUBLISH inside a Lua script with #!lua flags=allow-oom is delivered, also while Redis is out of memory', async () => {
    const server = await RedisServer.start({ args: ['--maxmemory-policy', 'noeviction'] });
    const admin = server.client();
    try {
      const pubsub = subscriber({ connection: server.url });
      const got: string[] = [];
      pubsub.subscribe('p:{q}:notify', (m) => void got.push(m));
      await pubsub.whenSubscribed('p:{q}:notify');
      const script = `#!lua flags=allow-oom\nredis.call('SET', KEYS[1], ARGV[2]); return redis.call('PUBLISH', ARGV[1], ARGV[2])`;
      expect(await admin.eval(script, 1, 'p:{q}:wake', 'p:{q}:notify', 'normal')).toBe(1);
      await admin.config('SET', 'maxmemory', '1');
      expect(await admin.eval(script, 1, 'p:{q}:wake', 'p:{q}:notify', 'out-of-memory')).toBe(1);
      await expect(admin.eval(script.replace(' flags=allow-oom', ''), 1, 'p:{q}:wake', 'p:{q}:notify', 'refused')).rejects.toThrow(/OOM/);
      await waitFor(() => got.length === 2, 5000, 'two messages');
      expect(got).toEqual(['normal', 'out-of-memory']);
    } finally {
      await admin.config('SET', 'maxmemory', '0').catch(() => undefined);
      admin.disconnect();
      await Promise.all(subscribers.splice(0).map((s) => s.close()));
      await server.stop();
    }
  });

  it('after a Redis restart it subscribes again, then calls onResubscribed; the outage is logged once', async () => {
    const server = await RedisServer.start();
    const publisher = new Redis(server.url, { maxRetriesPerRequest: null });
    publisher.on('error', () => undefined);
    try {
      const log = captureLog();
      const pubsub = subscriber({ connection: server.url, healthCheckInterval: 200, healthCheckTimeout: 1000 }, log);
      const got: string[] = [];
      let resubscribed = 0;
      pubsub.onResubscribed(() => resubscribed++);
      const channels = Array.from({ length: 600 }, (_, i) => `restart:${i}`); // more than one SUBSCRIBE command's worth
      for (const channel of channels) pubsub.subscribe(channel, (m) => void got.push(`${channel}=${m}`));
      await Promise.all(channels.map((c) => pubsub.whenSubscribed(c)));
      expect(resubscribed).toBe(0);

      await server.restart();
      await waitFor(() => resubscribed === 1, 15_000, 'onResubscribed');
      // Subscribed again before onResubscribed ran: a message published now arrives.
      expect(await publisher.call('PUBSUB', 'NUMSUB', 'restart:0', 'restart:599')).toEqual(['restart:0', 1, 'restart:599', 1]);
      await publish(publisher, 'restart:599', 'after');
      await waitFor(() => got.includes('restart:599=after'), 5000, 'a message after the restart');
      await sleep(500); // a few health checks pass without changing anything
      expect(resubscribed).toBe(1);
      const outage = log.lines.filter((l) => /connection lost|restored/.test(l));
      expect(outage).toHaveLength(2);
      expect(outage[0]).toMatch(/^warn Redis Pub\/Sub connection lost/);
      expect(outage[1]).toMatch(/^log Redis Pub\/Sub connection restored .* after \d+ ms; 600 channel\(s\) subscribed again$/);
    } finally {
      publisher.disconnect();
      await Promise.all(subscribers.splice(0).map((s) => s.close()));
      await server.stop();
    }
  });

  it('replaces a silently dead (half-open) connection, subscribes again and calls onResubscribed', async () => {
    const server = await RedisServer.start();
    const proxy = await FaultProxy.start(server.port, 1);
    const publisher = server.client();
    try {
      const log = captureLog();
      const pubsub = subscriber({ connection: proxy.url(0), healthCheckInterval: 200, healthCheckTimeout: 500 }, log);
      const got: string[] = [];
      let resubscribed = 0;
      pubsub.onResubscribed(() => resubscribed++);
      pubsub.subscribe('half-open', (m) => void got.push(m));
      await pubsub.whenSubscribed('half-open');
      expect(proxy.halfOpen(0)).toBe(1);
      // Redis still counts the old connection's subscription; the message is lost on the silent path.
      await publish(publisher, 'half-open', 'lost');
      await waitFor(() => resubscribed === 1, 15_000, 'the dead connection to be replaced');
      await publish(publisher, 'half-open', 'after');
      await waitFor(() => got.includes('after'), 5000, 'a message on the new connection');
      expect(got).toEqual(['after']);
      const outage = log.lines.filter((l) => /did not answer|restored|lost/.test(l));
      expect(outage).toHaveLength(2);
      expect(outage[0]).toMatch(/^warn .* did not answer its health check within 500 ms/);
      expect(outage[1]).toMatch(/^log Redis Pub\/Sub connection restored/);
    } finally {
      publisher.disconnect();
      await Promise.all(subscribers.splice(0).map((s) => s.close()));
      await proxy.close();
      await server.stop();
    }
  });

  it('while idle it sends one command per health check interval, whatever the number of channels', async () => {
    const server = await RedisServer.start();
    const admin = server.client();
    try {
      const interval = 250;
      const pubsub = subscriber({ connection: server.url, healthCheckInterval: interval });
      const channels = Array.from({ length: 200 }, (_, i) => `idle:${i}`);
      for (const channel of channels) pubsub.subscribe(channel, () => undefined);
      await Promise.all(channels.map((c) => pubsub.whenSubscribed(c)));
      expect(pubsub.connectionCount).toBe(1);
      await admin.config('RESETSTAT');
      const from = Date.now();
      await sleep(3000);
      const calls = await commandCalls(admin);
      const window = Date.now() - from;
      const sent = [...calls].filter(([command]) => !['info', 'config|resetstat'].includes(command)).reduce((sum, [, n]) => sum + n, 0);
      process.stderr.write(
        `PubSub idle: ${sent} commands in ${window} ms with a ${interval} ms health check over 200 channels ` +
          `(${((sent / window) * 1000).toFixed(2)}/s; the default 5000 ms interval makes that 0.2/s)\n`,
      );
      expect(sent).toBeGreaterThan(0); // the health check runs
      expect(sent).toBeLessThanOrEqual(Math.ceil(window / interval) + 1);
      expect([...calls.keys()].filter((c) => !['info', 'config|resetstat', 'subscribe'].includes(c))).toEqual([]);
    } finally {
      admin.disconnect();
      await Promise.all(subscribers.splice(0).map((s) => s.close()));
      await server.stop();
    }
  });
});
