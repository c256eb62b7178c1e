import { LoggerService } from '@nestjs/common';
import { Cluster, Redis } from 'ioredis';
import { RedisClient, whenReady } from './engine/index.js';
import { messages } from './redis-queue.messages.js';

/**
 * Warns when Redis may lose jobs: an eviction policy other than noeviction, or no persistence at all (on
 * a cluster, per primary). Advisory only: a managed Redis may forbid CONFIG, which is reported at debug
 * level and otherwise ignored.
 */
export async function checkRedisDurability(client: RedisClient, logger: LoggerService): Promise<void> {
  try {
    await whenReady(client, 30_000, 'Redis configuration check');
    const servers: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
    for (const server of servers) {
      const where = client instanceof Cluster ? ` (cluster node ${server.options.host}:${server.options.port})` : '';
      const info = await server.info('persistence');
      const [, policy] = (await server.config('GET', 'maxmemory-policy')) as string[];
      const [, save] = (await server.config('GET', 'save')) as string[];
      if (policy && policy !== 'noeviction') logger.warn(messages.evictionPolicy(policy, where));
      if (!/aof_enabled:1/.test(info) && !save) logger.warn(messages.noPersistence(where));
    }
  } catch (error) {
    logger.debug?.(messages.configUnreadable((error as Error).message));
  }
}
