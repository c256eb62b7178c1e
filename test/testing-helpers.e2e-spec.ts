import { deletePrefixKeys, startTestRedis } from 'nestjs-redis-queue/testing';
import { rawClient, redisUrl, uniquePrefix } from './support/helpers.js';

describe('nestjs-redis-queue/testing', () => {
  it('deletePrefixKeys deletes the keys of one prefix, and no others', async () => {
    const redis = rawClient();
    const prefix = uniquePrefix('helpers');
    await redis.set(`${prefix}:{q}:seq`, '1');
    await redis.rpush(`${prefix}:{q}:ready`, 'a', 'b');
    await redis.set(`${prefix}-other:{q}:seq`, '1'); // shares the beginning, not the prefix
    await redis.set(`${prefix}x:{q}:seq`, '1');
    expect(await deletePrefixKeys(redisUrl(), prefix)).toBe(2);
    expect(await redis.exists(`${prefix}:{q}:seq`, `${prefix}:{q}:ready`)).toBe(0);
    expect(await redis.exists(`${prefix}-other:{q}:seq`, `${prefix}x:{q}:seq`)).toBe(2);
    expect(await deletePrefixKeys(redisUrl(), `${prefix}-other`)).toBe(1);
    expect(await deletePrefixKeys(redisUrl(), `${prefix}x`)).toBe(1);
    await redis.quit();
  });

  it('deletePrefixKeys refuses an empty prefix', async () => {
    await expect(deletePrefixKeys(redisUrl(), '')).rejects.toThrow('refusing to delete every key');
  });

  it('startTestRedis hands back REDIS_URL when it is set, and stopping it leaves that Redis alone', async () => {
    const redis = await startTestRedis();
    expect(redis).toMatchObject({ url: redisUrl(), source: 'env' });
    await redis.stop();
    const client = rawClient();
    expect(await client.ping()).toBe('PONG');
    await client.quit();
  });
});
