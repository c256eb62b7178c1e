import { RedisServer, startTestRedis } from 'nestjs-redis-queue/testing';

export async function redisForTests() {
  const redis = await startTestRedis(); // { url, source: 'env' | 'container' | 'binary', stop() }
  process.env.REDIS_URL = redis.url;
  return redis; // and in afterAll: await redis.stop()
}

// Tests that kill or restart Redis start their own server:
export async function redisToKill() {
  const server = await RedisServer.start({ appendonly: true });
  await server.kill('SIGKILL');
  await server.restart(); // same port and data directory
  return server; // and in afterAll: await server.stop()
}
