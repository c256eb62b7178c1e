import { LoggerService } from '@nestjs/common';
import { RedisClient, whenReady } from './engine/index.js';
import { messages } from './redis-queue.messages.js';

/**
 * Warns when Redis may lose jobs: an eviction policy other than noeviction, or no persistence at all.
 * Advisory only: a managed Redis may forbid CONFIG, which is reported and otherwise ignored.
 */
export async function checkRedisDurability(client: RedisClient, logger: LoggerService): Promise<void> {
  try {
    await whenReady(client, 30_000, 'Redis configuration check');
    const info = await client.info('persistence');
    const [, policy] = (await client.config('GET', 'maxmemory-policy')) as string[];
    const [, save] = (await client.config('GET', 'save')) as string[];
    if (policy && policy !== 'noeviction') logger.warn(messages.evictionPolicy(policy));
    const aof = /aof_enabled:1/.test(info);
    if (!aof && !save) logger.warn(messages.noPersistence());
  } catch (error) {
    logger.debug?.(messages.configUnreadable((error as Error).message));
  }
}
