import { LoggerService } from '@nestjs/common';
import { Cluster, Redis } from 'ioredis';
import { RedisClient, whenReady } from './engine/index.js';
import { messages } from './redis-queue.messages.js';

/** How long the startup check waits for Redis before it gives up (the app runs on regardless). */
export const DURABILITY_CHECK_WAIT_MS = 30_000;

const STOPPED = Symbol('stopped');

/**
 * Warns when Redis may lose jobs: an eviction policy other than noeviction, or no persistence at all (on
 * a cluster, per primary). Advisory only: a managed Redis may forbid CONFIG, which is reported at debug
 * level and otherwise ignored. Once `signal` aborts (the app is shutting down) it sends nothing more and
 * resolves at once.
 */
export async function checkRedisDurability(
  client: RedisClient,
  logger: LoggerService,
  signal: AbortSignal,
  waitMs = DURABILITY_CHECK_WAIT_MS,
): Promise<void> {
  const aborted = new Promise<typeof STOPPED>((resolve) => {
    if (signal.aborted) resolve(STOPPED);
    signal.addEventListener('abort', () => resolve(STOPPED), { once: true });
  });
  /** Runs one step unless the app is shutting down; stops waiting for it when the app starts to. */
  const step = async <T>(run: () => Promise<T>): Promise<T> => {
    if (signal.aborted) throw STOPPED;
    const result = await Promise.race([run(), aborted]);
    if (result === STOPPED) throw STOPPED;
    return result as T;
  };
  try {
    await step(() => whenReady(client, waitMs, 'Redis configuration check', messages.durabilityCheckGaveUp(waitMs)));
    const servers: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
    for (const server of servers) {
      const where = client instanceof Cluster ? ` (cluster node ${server.options.host}:${server.options.port})` : '';
      const info = await step(() => server.info('persistence'));
      const [, policy] = await step(() => server.config('GET', 'maxmemory-policy') as Promise<string[]>);
      const [, save] = await step(() => server.config('GET', 'save') as Promise<string[]>);
      // volatile-* policies evict only keys with a TTL, and no queue key has one: safe, worth a note only.
      if (policy?.startsWith('volatile-')) logger.log(messages.volatileEvictionPolicy(policy, where));
      else if (policy && policy !== 'noeviction') logger.warn(messages.evictionPolicy(policy, where));
      if (!/aof_enabled:1/.test(info) && !save) logger.warn(messages.noPersistence(where));
    }
  } catch (error) {
    if (error === STOPPED || signal.aborted) return;
    logger.debug?.(messages.configUnreadable((error as Error).message));
  }
}
