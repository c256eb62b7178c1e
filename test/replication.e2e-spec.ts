import { ReplicationTimeoutError } from 'nestjs-redis-queue';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { uniquePrefix, waitFor } from './support/helpers.js';
import { startQueueApp } from './support/queue-app.js';

describe('waitForReplicas', () => {
  let primary: RedisServer;
  let replica: RedisServer;

  beforeAll(async () => {
    primary = await RedisServer.start();
    replica = await RedisServer.start({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    const client = replica.client();
    await waitFor(async () => /master_link_status:up/.test(await client.info('replication')), 10_000, 'the replica link');
    client.disconnect();
  });
  afterAll(async () => {
    await replica.stop();
    await primary.stop();
  });

  it('resolves enqueue only once the replica has the job', async () => {
    const prefix = uniquePrefix('wait');
    const q = await startQueueApp([], { connection: primary.url, prefix, consumers: false, waitForReplicas: { replicas: 1 } });
    const onReplica = replica.client();
    for (let i = 0; i < 20; i++) {
      await q.producer.enqueue('email', { i });
      // No waiting here: the replica must already have it when enqueue resolved.
      expect(await onReplica.llen(`${prefix}:{email}:ready`)).toBe(i + 1);
    }
    const ids = await q.producer.enqueueMany('email', Array.from({ length: 2500 }, (_, i) => ({ payload: { i } })));
    expect(ids).toHaveLength(2500);
    expect(await onReplica.llen(`${prefix}:{email}:ready`)).toBe(2520);
    onReplica.disconnect();
    await q.close();
  });

  it('rejects with ReplicationTimeoutError when too few replicas confirm in time', async () => {
    const prefix = uniquePrefix('wait');
    const q = await startQueueApp([], {
      connection: primary.url,
      prefix,
      consumers: false,
      waitForReplicas: { replicas: 2, timeout: 300 },
    });
    const error = await q.producer.enqueue('email', { to: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplicationTimeoutError);
    expect((error as ReplicationTimeoutError).acknowledged).toBe(1);
    expect((error as Error).message).toContain('only 1 of 2 replica(s) confirmed it within 300 ms');
    expect((await q.inspector.counts('email')).ready).toBe(1); // stored on the primary all the same
    await q.close();
  });

  it('names a bad waitForReplicas option', async () => {
    await expect(startQueueApp([], { connection: primary.url, waitForReplicas: { replicas: 0 } })).rejects.toThrow(
      'Invalid option "waitForReplicas.replicas": must be an integer from 1 to 100',
    );
  });
});
