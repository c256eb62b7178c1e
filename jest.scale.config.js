import base from './jest.config.js';

/**
 * `npm run test:scale`: the scale-out suites (test/scale). They start their own Redis Cluster (3 primaries,
 * 3 replicas) and Sentinel deployment (primary, replica, 3 sentinels) on loopback ports, kill primaries and
 * run worker processes, so they run one file at a time and need no shared Redis (no global setup).
 * @type {import('jest').Config}
 */
export default {
  ...base,
  testMatch: ['<rootDir>/test/scale/**/*.scale-spec.ts'],
  globalSetup: undefined,
  globalTeardown: undefined,
  maxWorkers: 1,
  testTimeout: 120_000,
};
