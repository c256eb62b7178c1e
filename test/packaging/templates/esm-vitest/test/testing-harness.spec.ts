// What the packaging test checks beyond the README's recipe: the helpers of nestjs-redis-queue/testing
// as an installed package (no testcontainers, no class-validator here).
import { Redis } from 'ioredis';
import { deletePrefixKeys, startTestRedis } from 'nestjs-redis-queue/testing';

describe('nestjs-redis-queue/testing', () => {
  it('deletePrefixKeys removes the keys of one prefix and no others', async () => {
    const redis = new Redis(process.env.REDIS_URL!);
    const prefix = `harness-${process.pid}`;
    await redis.set(`${prefix}:{q}:seq`, '1');
    await redis.rpush(`${prefix}:{q}:ready`, 'a', 'b');
    await redis.set(`${prefix}-other:{q}:seq`, '1');
    expect(await deletePrefixKeys(process.env.REDIS_URL!, prefix)).toBe(2);
    expect(await redis.exists(`${prefix}:{q}:seq`, `${prefix}:{q}:ready`)).toBe(0);
    expect(await redis.exists(`${prefix}-other:{q}:seq`)).toBe(1);
    await deletePrefixKeys(process.env.REDIS_URL!, `${prefix}-other`);
    await redis.quit();
  });

  it('when Docker answers but testcontainers is not installed, says to install it', async () => {
    const saved = { ...process.env };
    try {
      delete process.env.REDIS_URL;
      delete process.env.RQ_NO_DOCKER;
      process.env.DOCKER_HOST = 'tcp://127.0.0.1:9'; // "a Docker engine may answer"
      process.env.REDIS_SERVER_BIN = '/nonexistent/redis-server'; // and no binary to fall back on
      const failure = startTestRedis();
      await expect(failure).rejects.toThrow('the testcontainers package is not installed: npm install --save-dev testcontainers');
      await expect(failure).rejects.not.toThrow('start a Docker engine');
    } finally {
      process.env = saved;
    }
  });
});
