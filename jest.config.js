/**
 * Nest 12 ships as ES modules, so Jest runs in its native ESM mode (see the "test" script): TypeScript
 * is compiled to ESM by ts-jest, and the ".js" suffixes of relative imports are mapped back to sources.
 * @type {import('jest').Config}
 */
export default {
  rootDir: '.',
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', useESM: true }],
  },
  testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts', '<rootDir>/test/**/*.e2e-spec.ts'],
  moduleNameMapper: {
    '^nestjs-redis-queue$': '<rootDir>/libs/redis-queue/src/index.ts',
    '^nestjs-redis-queue/testing$': '<rootDir>/libs/redis-queue/src/testing/index.ts',
    '^nestjs-redis-queue/dashboard$': '<rootDir>/libs/redis-queue/src/dashboard/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  globalSetup: '<rootDir>/test/support/global-setup.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
  testTimeout: 60_000,
};
