import type { Config } from 'jest';

// Nest 12 (and nestjs-redis-queue) ship as ES modules, which Jest loads only in its native ESM mode
// (`node --experimental-vm-modules`, the "test" script). ts-jest then has to emit ES modules too, which
// a CommonJS app's tsconfig (module: nodenext without "type": "module") would not: hence the override.
const config: Config = {
  moduleFileExtensions: ['js', 'json', 'ts'],
  rootDir: '.',
  testRegex: 'test/.*\\.spec\\.ts$',
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: { module: 'esnext', moduleResolution: 'bundler' } }],
  },
  // Relative imports written with ".js" (as ES modules need) point at the ".ts" sources.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  // One Redis for the whole run: started before the first test file, stopped after the last.
  globalSetup: '<rootDir>/test/redis.global-setup.ts',
  globalTeardown: '<rootDir>/test/redis.global-teardown.ts',
};

export default config;
