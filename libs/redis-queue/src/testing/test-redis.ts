import { existsSync } from 'fs';
import { join } from 'path';
import { hasRedisServerBinary, RedisServer } from './redis-server.js';
import { testingMessages } from './testing.messages.js';

/** A Redis for tests, and how to let go of it. */
export interface TestRedis {
  url: string;
  /** Where it came from: `env` (REDIS_URL), `container` (testcontainers) or `binary` (redis-server). */
  source: 'env' | 'container' | 'binary';
  /** Stops the container or the server (nothing for `env`: that Redis is yours). */
  stop(): Promise<void>;
}

/** The message `startTestRedis()` throws when no Redis can be had (Docker not tried). */
export const NO_REDIS_MESSAGE = testingMessages.noRedis();

/**
 * Finds a real Redis, in this order: `REDIS_URL`; a throwaway container through testcontainers when a
 * Docker engine may answer (unless `RQ_NO_DOCKER=1`); a `redis-server` binary (`REDIS_SERVER_BIN`, else
 * from PATH) on a free port in a temporary directory. Otherwise it throws a message saying how to get
 * one. `RQ_DEBUG=1` prints why a way was skipped.
 */
export async function startTestRedis(): Promise<TestRedis> {
  if (process.env.REDIS_URL) {
    return { url: process.env.REDIS_URL, source: 'env', stop: async () => undefined };
  }
  const container = await startContainer();
  if ('url' in container) return container;
  if (hasRedisServerBinary()) {
    const server = await RedisServer.start();
    return { url: server.url, source: 'binary', stop: () => server.stop() };
  }
  throw new Error(testingMessages.noRedis(container.problem));
}

/** Where a Docker engine may answer, or undefined when none seems to. */
function dockerEndpoint(): string | undefined {
  if (process.env.DOCKER_HOST) return `DOCKER_HOST=${process.env.DOCKER_HOST}`;
  const sockets = ['/var/run/docker.sock', join(process.env.HOME ?? '', '.docker/run/docker.sock')];
  return sockets.find((socket) => existsSync(socket));
}

/** A container, or why there is none (`problem` is unset when Docker was not to be tried at all). */
async function startContainer(): Promise<TestRedis | { problem?: string }> {
  const endpoint = dockerEndpoint();
  if (process.env.RQ_NO_DOCKER === '1' || !endpoint) return {};
  let testcontainers: typeof import('testcontainers');
  try {
    // Loaded only when a Docker engine may answer: testcontainers is an optional peer dependency.
    testcontainers = await import('testcontainers');
  } catch (error) {
    return skipped(isModuleMissing(error, 'testcontainers') ? testingMessages.testcontainersMissing(endpoint) : testingMessages.containerFailed((error as Error).message));
  }
  try {
    const container = await new testcontainers.GenericContainer('redis:7-alpine')
      .withCommand(['redis-server', '--save', '', '--appendonly', 'no'])
      .withExposedPorts(6379)
      .withWaitStrategy(testcontainers.Wait.forLogMessage('Ready to accept connections'))
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
    return skipped(testingMessages.containerFailed((error as Error).message));
  }
}

function skipped(problem: string): { problem: string } {
  if (process.env.RQ_DEBUG) console.warn(`nestjs-redis-queue/testing: ${problem}`);
  return { problem };
}

/** True when `error` says that `name` itself (not something it imports) could not be found. */
function isModuleMissing(error: unknown, name: string): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = (error as Error | undefined)?.message ?? '';
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(`'${name}'`);
}
