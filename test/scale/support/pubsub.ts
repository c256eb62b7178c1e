import { createClient, publish, PubSub, RedisClient, replaceIfStale } from '../../../libs/redis-queue/src/engine/index.js';
import { ChildScript } from '../../support/child.js';
import { sleep, uniquePrefix } from '../../support/helpers.js';
import { pause, until } from './admin.js';
import { closeAll, ScaleApp, startApp } from './apps.js';
import { QUEUES } from './core-behaviours.js';
import type { Topology } from './topology.js';

/** A QueueLogger keeping its lines (SCALE_LOG=1 prints them). */
export function lineLog() {
  const lines: string[] = [];
  const add = (level: string) => (m: string) => {
    lines.push(`${level} ${m}`);
    if (process.env.SCALE_LOG === '1') process.stderr.write(`${level} ${m}\n`);
  };
  return { lines, logger: { log: add('log'), warn: add('warn'), error: add('error') } };
}

/**
 * A client for publishing, quiet about outages. The producer role never re-sends a command after a
 * reconnect, so a publish that timed out on a frozen primary cannot arrive twice.
 */
export function publisher(topology: Topology): RedisClient {
  return createClient(topology.connection(), {
    role: 'producer',
    name: 'test:publisher',
    commandTimeout: 2000,
    logger: { log: () => undefined, warn: () => undefined, error: () => undefined },
  });
}

/** Publishes, retrying while the deployment fails over (replacing a connection to a frozen primary, as producers do). */
export async function publishSurely(client: RedisClient, channel: string, message: string): Promise<void> {
  await until(
    () =>
      publish(client, channel, message).then(
        () => true,
        (error: unknown) => {
          replaceIfStale(client, error);
          return false;
        },
      ),
    30_000,
    `a publish on ${channel} to go through`,
    100,
  );
}

export interface SubscriberFailoverFigures {
  /** ms from the failure until onResubscribed first ran. */
  resubscribedMs: number;
  /** onResubscribed calls (one per connection that came back or took over moved channels). */
  resubscribedCalls: number;
  /** Subscriber connections before and after. */
  connections: [number, number];
  /** Outage lines the subscriber logged. */
  outageLines: string[];
}

/**
 * An engine PubSub holds 8 hash-tagged channels (on Cluster: over every primary) and one classic channel
 * while the primary holding `{email}` fails: SIGKILLed, or frozen by SIGSTOP (sockets stay open and go
 * silent, so only the health check can tell). It must subscribe again by itself and call onResubscribed,
 * after which a message on every channel arrives exactly once.
 */
export async function subscriberThroughFailover(topology: Topology, failure: 'kill' | 'freeze'): Promise<SubscriberFailoverFigures> {
  const prefix = uniquePrefix('ps');
  const log = lineLog();
  const pubsub = new PubSub({
    connection: topology.connection(),
    name: `${prefix}:subscriber`,
    logger: log.logger,
    healthCheckInterval: 500,
    healthCheckTimeout: 1000,
  });
  const client = publisher(topology);
  let thaw: (() => void) | undefined;
  let frozen: Awaited<ReturnType<Topology['primaryFor']>> | undefined;
  try {
    const channels = [...QUEUES.map((q) => `${prefix}:{${q}}:notify`), `${prefix}:classic`];
    const got = new Map<string, string[]>(channels.map((c) => [c, []]));
    for (const channel of channels) pubsub.subscribe(channel, (message) => void got.get(channel)!.push(message));
    const resubscribedAt: number[] = [];
    pubsub.onResubscribed(() => resubscribedAt.push(Date.now()));
    await Promise.all(channels.map((c) => pubsub.whenSubscribed(c)));
    const connectionsBefore = pubsub.connectionCount;
    for (const channel of channels) await publishSurely(client, channel, 'before');
    await until(() => channels.every((c) => got.get(c)!.length === 1), 10_000, 'every channel to get "before"');

    const old = await topology.primaryFor('email');
    if (failure === 'freeze') {
      thaw = pause(old.pid);
      frozen = old;
    } else await old.kill('SIGKILL');
    const failedAt = Date.now();
    await topology.waitForNewPrimary('email', old, 30_000);
    await until(() => resubscribedAt.length > 0, 30_000, 'onResubscribed after the failover');
    await Promise.all(channels.map((c) => pubsub.whenSubscribed(c)));
    for (const channel of channels) await publishSurely(client, channel, 'after');
    await until(() => channels.every((c) => got.get(c)!.includes('after')), 10_000, 'every channel to get "after"');
    await sleep(300); // a duplicate would arrive meanwhile
    for (const channel of channels) expect({ channel, got: got.get(channel)!.filter((m) => m === 'after') }).toEqual({ channel, got: ['after'] });
    return {
      resubscribedMs: resubscribedAt[0] - failedAt,
      resubscribedCalls: resubscribedAt.length,
      connections: [connectionsBefore, pubsub.connectionCount],
      outageLines: log.lines.filter((l) => /connection lost|did not answer|restored|dropped/.test(l)),
    };
  } finally {
    await pubsub.close();
    client.disconnect();
    if (frozen && thaw) {
      await frozen.kill('SIGKILL'); // a frozen process dies at once, without ever answering again
      thaw();
    }
    await topology.heal();
  }
}

export interface BroadcastFigures {
  /** Broadcasts sent while the deployment failed over, and how many of them each process got. */
  sentDuringFailover: number;
  gotDuringFailover: number[];
}

/**
 * Three app instances in their own processes listen to broadcasts on one channel; a fourth app
 * (`consumers: false`) broadcasts. Every broadcast reaches every instance once. With `failover`, the
 * primary holding the channel is SIGKILLed: broadcasts sent meanwhile may be missed (at-most-once), but
 * once the deployment has failed over every instance gets them again, and none gets one twice.
 */
export async function broadcastToProcesses(topology: Topology, failover: boolean): Promise<BroadcastFigures> {
  const prefix = uniquePrefix('bcast');
  const children = [0, 1, 2].map(() =>
    ChildScript.start('test/scale/fixtures/broadcast-listener.ts', { RQ_CONNECTION: JSON.stringify(topology.connection()), RQ_PREFIX: prefix }),
  );
  let sender: ScaleApp | undefined;
  const received = (child: ChildScript) => child.lines.filter((l) => l.startsWith('got ')).map((l) => Number(l.slice(4)));
  try {
    await Promise.all(children.map((c) => c.waitForLine(/^ready$/, 90_000)));
    sender = await startApp({ connection: topology.connection(), prefix, consumers: false, commandTimeout: 2000 });
    let n = 0;
    for (; n < 3; ) {
      await sender.producer.broadcast('fanout', { n: ++n });
      await until(() => children.every((c) => received(c).includes(n)), 10_000, `every process to get broadcast ${n}`);
    }
    let sentDuringFailover = 0;
    const firstDuring = n + 1;
    if (failover) {
      const old = await topology.primaryFor('fanout');
      await old.kill('SIGKILL');
      await topology.waitForNewPrimary('fanout', old, 30_000);
      // Broadcast until every process hears one again.
      await until(
        async () => {
          const m = ++n;
          sentDuringFailover++;
          await sender!.producer.broadcast('fanout', { n: m }).catch(() => undefined);
          await sleep(200);
          return children.every((c) => received(c).some((k) => k >= firstDuring));
        },
        60_000,
        'every process to hear broadcasts again after the failover',
        0,
      );
      await topology.heal();
    }
    const marker = ++n;
    await until(
      () => sender!.producer.broadcast('fanout', { n: marker }).then(() => true, () => false),
      30_000,
      'the marker broadcast to go out',
    );
    await until(() => children.every((c) => received(c).includes(marker)), 10_000, 'every process to get the marker');
    for (const [i, child] of children.entries()) {
      const got = received(child);
      expect({ process: i, duplicates: got.filter((k, at) => got.indexOf(k) !== at) }).toEqual({ process: i, duplicates: [] });
      expect({ process: i, first: got.slice(0, 3) }).toEqual({ process: i, first: [1, 2, 3] });
    }
    return {
      sentDuringFailover,
      gotDuringFailover: children.map((c) => received(c).filter((k) => k >= firstDuring && k < marker).length),
    };
  } finally {
    await closeAll([sender]);
    await Promise.all(
      children.map(async (child) => {
        let timer: NodeJS.Timeout | undefined;
        const exited = await Promise.race([child.kill('SIGTERM'), new Promise((r) => (timer = setTimeout(() => r('timeout'), 10_000)))]);
        clearTimeout(timer);
        if (exited === 'timeout') await child.kill('SIGKILL');
      }),
    );
  }
}
