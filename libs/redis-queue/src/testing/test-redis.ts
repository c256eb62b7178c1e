import { existsSync } from 'fs';
import { hasRedisServerBinary, RedisServer } from './redis-server.js';

/** A Redis for tests, and how to let go of it. */
export interface TestRedis {
  url: string;
  /** Where it came from: `env` (REDIS_URL), `container` (testcontainers) or `binary` (redis-server). */
  source: 'env' | 'container' | 'binary';
  stop(): Promise<void>;
}

export const NO_REDIS_MESSAGE =
  'No Redis found. Any one of these works:\n' +
  '  - set REDIS_URL=redis://host:port to use a Redis you run (keys go under their own prefixes);\n' +
  '  - start a Docker engine (a throwaway redis:7-alpine then runs through testcontainers);\n' +
  '  - install redis-server (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis).';

/**
 * Finds a real Redis, in this order: `REDIS_URL`; a throwaway container through testcontainers when a
 * Docker engine answers; a `redis-server` binary from PATH on a free port in a temporary directory.
 * Otherwise it throws a message saying how to get one.
 */
export async function startTestRedis(): Promise<TestRedis> {
  if (process.env.REDIS_URL) {
    return { url: process.env.REDIS_URL, source: 'env', stop: async () => undefined };
  }
  const container = await startContainer();
  if (container) return container;
  if (hasRedisServerBinary()) {
    const server = await RedisServer.start();
    return { url: server.url, source: 'binary', stop: () => server.stop() };
  }
  throw new Error(NO_REDIS_MESSAGE);
}

function dockerMayAnswer(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock') || existsSync(`${process.env.HOME}/.docker/run/docker.sock`);
}

async function startContainer(): Promise<TestRedis | undefined> {
  if (process.env.RQ_NO_DOCKER === '1' || !dockerMayAnswer()) return undefined;
  try {
    // Loaded only when a Docker engine may answer: testcontainers is an optional dependency.
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer('redis:7-alpine')
      .withCommand(['redis-server', '--save', '', '--appendonly', 'no'])
      .withExposedPorts(6379)
      .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
      .withStartupTimeout(60_000)
      .start();
    return {
      url: `redis://${container.getHost()}:${container.getMappedPort(6379)}`,
      source: 'container',
      stop: async () => {
        await container.stop();
      },
    };
  } catch (error) {
    if (process.env.RQ_DEBUG) console.warn(`testcontainers unavailable: ${(error as Error).message}`);
    return undefined;
  }
}
