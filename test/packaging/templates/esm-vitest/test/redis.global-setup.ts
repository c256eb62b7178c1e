import { startTestRedis } from 'nestjs-redis-queue/testing';

// Vitest runs this once, before any test file: REDIS_URL if set, else a throwaway Redis (a container
// when Docker and testcontainers are there, else redis-server from PATH). The returned function runs
// after the last test file.
export default async function setup() {
  const redis = await startTestRedis();
  process.env.REDIS_URL = redis.url; // the test files' workers start after this, with it set
  return () => redis.stop();
}
