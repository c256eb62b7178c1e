import { Redis } from 'ioredis';
import { PubSub } from '../../libs/redis-queue/src/engine/index.js';
import { sleep, uniquePrefix } from '../support/helpers.js';
import { commandCalls, until, withNode } from './support/admin.js';
import { TestCluster } from './support/cluster.js';
import { QUEUES } from './support/core-behaviours.js';
import { broadcastToProcesses, lineLog, publisher, publishSurely, subscriberThroughFailover } from './support/pubsub.js';
import { Report } from './support/report.js';
import { TestSentinel } from './support/sentinel.js';

const report = new Report('Pub/Sub: subscriber and broadcast');
afterAll(() => report.print());

describe('Pub/Sub on Redis Cluster (3 primaries, 3 replicas)', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await TestCluster.start({ primaries: 3, replicasPerPrimary: 1, nodeTimeout: 1000 });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  describe('SPUBLISH inside a Lua script (EVAL with its KEYS in {q})', () => {
    /** Subscribes to `<prefix>:{email}:notify` on the slot's primary and runs `script` there. */
    async function run(script: string, channelTag = 'email') {
      const prefix = uniquePrefix('lua');
      const owner = await cluster.primaryFor('email');
      const subscriber = new Redis(owner.port, '127.0.0.1');
      const got: string[] = [];
      subscriber.on('smessage', (_channel: string, message: string) => void got.push(message));
      await subscriber.ssubscribe(`${prefix}:{email}:notify`);
      try {
        const reply = await withNode(owner.port, (r) =>
          r.eval(script, 1, `${prefix}:{email}:wake`, `${prefix}:{${channelTag}}:notify`, 'w'),
        ).then(
          (value) => ({ value }),
          (error: Error) => ({ error: error.message }),
        );
        await sleep(100);
        return { reply, got };
      } finally {
        subscriber.disconnect();
      }
    }
    const publishes = `redis.call('INCR', KEYS[1]); return redis.call('SPUBLISH', ARGV[1], ARGV[2])`;

    it('works in a plain EVAL, and with #!lua or #!lua flags=allow-oom: the subscriber gets it, SPUBLISH counts it', async () => {
      for (const shebang of ['', '#!lua\n', '#!lua flags=allow-oom\n']) {
        expect({ shebang, ...(await run(shebang + publishes)) }).toEqual({ shebang, reply: { value: 1 }, got: ['w'] });
      }
    });

    it('is refused in a #!lua flags=no-writes script (SPUBLISH counts as a write there)', async () => {
      const { reply, got } = await run('#!lua flags=no-writes\n' + publishes.replace("redis.call('INCR', KEYS[1]); ", ''));
      expect(reply).toEqual({ error: expect.stringMatching(/^ERR Write commands are not allowed from read-only scripts/) });
      expect(got).toEqual([]);
    });

    it('is refused for a channel on another node ("non local key"), so the channel needs the keys\' {tag}', async () => {
      const owner = await cluster.primaryFor('email');
      const elsewhere = [];
      for (const q of QUEUES) if ((await cluster.primaryFor(q)).port !== owner.port) elsewhere.push(q);
      const { reply } = await run(publishes, elsewhere[0]);
      expect(reply).toEqual({ error: expect.stringMatching(/^ERR Script attempted to access a non local key in a cluster node script/) });
    });

    it('with #!lua flags=allow-oom it still writes and publishes while the node is over maxmemory (noeviction)', async () => {
      const owner = await cluster.primaryFor('email');
      await withNode(owner.port, (r) => r.config('SET', 'maxmemory-policy', 'noeviction'));
      await withNode(owner.port, (r) => r.config('SET', 'maxmemory', '1'));
      try {
        expect(await run('#!lua flags=allow-oom\n' + publishes)).toEqual({ reply: { value: 1 }, got: ['w'] });
        const refused = await run('#!lua\n' + publishes);
        expect(refused.reply).toEqual({ error: expect.stringMatching(/^OOM command not allowed/) });
        expect(refused.got).toEqual([]);
      } finally {
        await withNode(owner.port, (r) => r.config('SET', 'maxmemory', '0'));
      }
    });
  });

  describe('the engine subscriber', () => {
    it('holds one sharded connection per primary with channels plus one classic one, and delivers both kinds', async () => {
      const prefix = uniquePrefix('ps');
      const pubsub = new PubSub({ connection: cluster.connection(), name: `${prefix}:subscriber`, logger: lineLog().logger });
      const client = publisher(cluster);
      try {
        const channels = [...QUEUES.map((q) => `${prefix}:{${q}}:notify`), `${prefix}:classic`];
        const got = new Map<string, string[]>(channels.map((c) => [c, []]));
        for (const channel of channels) pubsub.subscribe(channel, (m) => void got.get(channel)!.push(m));
        await Promise.all(channels.map((c) => pubsub.whenSubscribed(c)));
        expect(pubsub.connectionCount).toBe(4);
        for (const channel of channels) await publishSurely(client, channel, 'hello');
        await until(() => channels.every((c) => got.get(c)!.length === 1), 10_000, 'every channel to get its message');
        // Sharded subscriptions sit on the primary that owns their slot.
        for (const queue of QUEUES) {
          const owner = await cluster.primaryFor(queue);
          const numsub = await withNode(owner.port, (r) => r.call('PUBSUB', 'SHARDNUMSUB', `${prefix}:{${queue}}:notify`));
          expect({ queue, numsub }).toEqual({ queue, numsub: [`${prefix}:{${queue}}:notify`, 1] });
        }
      } finally {
        await pubsub.close();
        client.disconnect();
      }
    });

    it('idle, with the default health check: commands per second over every node', async () => {
      const prefix = uniquePrefix('ps');
      const pubsub = new PubSub({ connection: cluster.connection(), name: `${prefix}:subscriber`, logger: lineLog().logger });
      try {
        const channels = [...QUEUES.map((q) => `${prefix}:{${q}}:notify`), `${prefix}:classic`];
        for (const channel of channels) pubsub.subscribe(channel, () => undefined);
        await Promise.all(channels.map((c) => pubsub.whenSubscribed(c)));
        // What the subscriber sends: its health checks (re-SUBSCRIBEs) and slot-map reads, if any. (The
        // nodes' own traffic, e.g. replication PINGs to replicas, is not the subscriber's.)
        const counted = ['ssubscribe', 'subscribe', 'cluster|slots', 'cluster|shards'];
        const sum = async () => {
          const all = await Promise.all(cluster.servers.map((s) => commandCalls(s.port)));
          return all.reduce((total, calls) => total + counted.reduce((n, c) => n + (calls.get(c) ?? 0), 0), 0);
        };
        const before = await sum();
        const from = Date.now();
        await sleep(10_500);
        const sent = (await sum()) - before;
        const window = Date.now() - from;
        report.add(
          `cluster, idle subscriber with ${channels.length} channels on ${pubsub.connectionCount} connections: ` +
            `${sent} commands in ${window} ms (${((sent / window) * 1000).toFixed(2)}/s: one per connection every 5 s)`,
        );
        expect(sent).toBeGreaterThan(0);
        expect(sent).toBeLessThanOrEqual(pubsub.connectionCount * (Math.ceil(window / 5000) + 1));
      } finally {
        await pubsub.close();
      }
    });

    it('a primary SIGKILLed: subscribes again on the promoted replica, calls onResubscribed, delivers', async () => {
      const f = await subscriberThroughFailover(cluster, 'kill');
      report.add(`cluster, primary SIGKILLed: onResubscribed ${f.resubscribedMs} ms after the kill (${f.resubscribedCalls} call(s)), connections ${f.connections.join(' -> ')}`);
      expect(f.connections).toEqual([4, 4]);
    });

    it('a primary frozen (SIGSTOP, sockets stay open): the health check moves the subscriptions', async () => {
      const f = await subscriberThroughFailover(cluster, 'freeze');
      report.add(`cluster, primary frozen: onResubscribed ${f.resubscribedMs} ms after the freeze (${f.resubscribedCalls} call(s))`);
      expect(f.outageLines.some((l) => /did not answer its health check/.test(l) || /connection lost/.test(l))).toBe(true);
    });
  });

  describe('broadcast', () => {
    it('reaches every one of 3 app processes once', async () => {
      await broadcastToProcesses(cluster, false);
    });

    it('across a failover of the channel\'s primary: processes hear broadcasts again, never one twice', async () => {
      const f = await broadcastToProcesses(cluster, true);
      report.add(`cluster, broadcast across a failover: ${f.sentDuringFailover} sent until all heard again; got ${f.gotDuringFailover.join(' / ')}`);
    });
  });
});

describe('Pub/Sub on Sentinel (primary, replica, 3 sentinels)', () => {
  let sentinel: TestSentinel;
  beforeAll(async () => {
    sentinel = await TestSentinel.start({ downAfterMs: 1000, failoverTimeoutMs: 2000 });
  }, 60_000);
  afterAll(async () => {
    await sentinel?.stop();
  });

  it('failover (primary SIGKILLed): the subscriber reconnects to the new primary, calls onResubscribed, delivers', async () => {
    const f = await subscriberThroughFailover(sentinel, 'kill');
    report.add(`sentinel, primary SIGKILLed: onResubscribed ${f.resubscribedMs} ms after the kill, connections ${f.connections.join(' -> ')}`);
    expect(f.connections).toEqual([1, 1]);
    expect(f.outageLines).toEqual([expect.stringMatching(/^warn Redis Pub\/Sub connection lost/), expect.stringMatching(/^log Redis Pub\/Sub connection restored/)]);
  });

  it('primary frozen (SIGSTOP): the health check replaces the connection; it ends on the new primary', async () => {
    const f = await subscriberThroughFailover(sentinel, 'freeze');
    report.add(`sentinel, primary frozen: onResubscribed ${f.resubscribedMs} ms after the freeze`);
    expect(f.outageLines[0]).toMatch(/did not answer its health check within 1000 ms/);
  });

  it('broadcast reaches every one of 3 app processes, also after a failover, never twice', async () => {
    await broadcastToProcesses(sentinel, false);
    const f = await broadcastToProcesses(sentinel, true);
    report.add(`sentinel, broadcast across a failover: ${f.sentDuringFailover} sent until all heard again; got ${f.gotDuringFailover.join(' / ')}`);
  });
});
