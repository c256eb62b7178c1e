// Runs once after the last test file, in the process that ran the global setup.
export default async function globalTeardown() {
  await globalThis.testRedis?.stop();
}
