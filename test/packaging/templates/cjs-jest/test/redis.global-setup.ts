import { startTestRedis, TestRedis } from 'nestjs-redis-queue/testing';

declare global {
  var testRedis: TestRedis | undefined;
}

// Jest runs this once, in its own process, before any test file: REDIS_URL if set, else a throwaway
// Redis (a container when Docker and testcontainers are there, else redis-server from PATH). Import
// packages only here: Jest's moduleNameMapper does not apply to global setup files.
export default async function globalSetup() {
  const redis = await startTestRedis();
  process.env.REDIS_URL = redis.url; // the test workers start after this, with it set
  globalThis.testRedis = redis; // for the global teardown, which runs in the same process
}
