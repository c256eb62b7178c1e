import type { RedisConnection } from 'nestjs-redis-queue';
import type { RedisServer } from 'nestjs-redis-queue/testing';

/**
 * A replicated Redis deployment the scale suites run against: a Redis Cluster or a Sentinel-managed
 * primary. Everything it starts listens on 127.0.0.1 and is stopped by `stop()`.
 */
export interface Topology {
  readonly kind: 'cluster' | 'sentinel';
  /** The module's `connection` option for this deployment. */
  connection(): RedisConnection;
  /** The server that is primary for the queue's keys now. */
  primaryFor(queue: string): Promise<RedisServer>;
  /** A replica of that primary, in sync. */
  replicaFor(queue: string): Promise<RedisServer>;
  /** Every primary now (one for Sentinel). */
  primaries(): Promise<RedisServer[]>;
  /** Resolves with the new primary of the queue's keys once another server has taken over and accepts writes. */
  waitForNewPrimary(queue: string, old: RedisServer, timeoutMs: number): Promise<RedisServer>;
  /** Restarts killed servers (they rejoin as replicas) and waits until every primary has an in-sync replica. */
  heal(): Promise<void>;
  stop(): Promise<void>;
}
