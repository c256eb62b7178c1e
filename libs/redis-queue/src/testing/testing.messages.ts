/** Every user-facing message of `nestjs-redis-queue/testing`, built in one place. */
export const testingMessages = {
  /** Thrown by `startTestRedis()` when no way to get a Redis worked; `containerProblem` says why Docker was not used. */
  noRedis: (containerProblem?: string) =>
    'No Redis found. Any one of these works:\n' +
    '  - set REDIS_URL=redis://host:port to use a Redis you run (keys go under their own prefixes);\n' +
    (containerProblem
      ? `  - fix the Docker route: ${containerProblem};\n`
      : '  - start a Docker engine and install testcontainers (npm install --save-dev testcontainers): a throwaway redis:7-alpine then runs in a container;\n') +
    '  - install redis-server (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), or set REDIS_SERVER_BIN to its path.\n' +
    'RQ_DEBUG=1 prints why each way failed; RQ_NO_DOCKER=1 skips Docker.',
  testcontainersMissing: (where: string) =>
    `a Docker engine seems to answer (${where}), but the testcontainers package is not installed: ` +
    'npm install --save-dev testcontainers',
  containerFailed: (reason: string) => `testcontainers could not start redis:7-alpine: ${reason}`,
  redisServerMissing: (binary: string) =>
    `${binary} not found on PATH (install redis-server, or set REDIS_SERVER_BIN to its location)`,
};
