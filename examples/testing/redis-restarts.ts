import { RedisServer } from 'nestjs-redis-queue/testing';

// A test that kills or restarts Redis starts its own server, apart from the run's shared one.
export async function redisToKill(): Promise<RedisServer> {
  const server = await RedisServer.start({ appendonly: true }); // 127.0.0.1, a free port, a temporary directory
  await server.kill('SIGKILL'); // no goodbye, no save: what a crash looks like
  await server.restart(); // same port and data directory, so the AOF brings the jobs back
  return server; // and in the same file's afterAll: await server.stop()
}
