import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globals: true,
    root: './',
    include: ['test/**/*.spec.ts'],
    // Starts one Redis before the test files run and stops it after the last one.
    globalSetup: ['./test/redis.global-setup.ts'],
  },
});
