export { freePort, hasRedisServerBinary, RedisServer, sweepOrphanedServers } from './redis-server.js';
export type { RedisServerOptions } from './redis-server.js';
export { deletePrefixKeys } from './redis-keys.js';
export { NO_REDIS_MESSAGE, startTestRedis } from './test-redis.js';
export type { TestRedis } from './test-redis.js';
