import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import { RedisQueueError } from './errors.js';
import { RedisClient } from './redis-client.js';

/** Wait for replicas before `enqueue` resolves (Redis `WAIT`), bounding what a failover can lose. */
export interface ReplicationOptions {
  /** Replicas that must have the job before `enqueue` resolves. */
  replicas: number;
  /** ms to wait for them. Default: the producer's timeout. */
  timeout?: number;
}

/** The job is stored on the primary, but fewer replicas than asked confirmed it in time. */
export class ReplicationTimeoutError extends RedisQueueError {
  constructor(
    readonly acknowledged: number,
    readonly required: number,
    timeoutMs: number,
  ) {
    super(
      `the job is stored on the primary, but only ${acknowledged} of ${required} replica(s) confirmed it within ` +
        `${timeoutMs} ms; a failover now could lose it (retry with the same jobId to be safe)`,
    );
  }
}

/**
 * WAITs on the connection that wrote `key` (on a cluster: the connection to the primary of its slot,
 * which is where the write went), and returns how many replicas acknowledged.
 */
export async function waitForReplicas(client: RedisClient, key: string, replicas: number, timeoutMs: number): Promise<number> {
  if (!(client instanceof Cluster)) return client.wait(replicas, timeoutMs);
  const primary = client.slots[calculateSlot(key)]?.[0];
  const node = client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === primary);
  // The write went through; only its replication is unconfirmed, which is what the caller must hear.
  return node ? node.wait(replicas, timeoutMs) : 0;
}
