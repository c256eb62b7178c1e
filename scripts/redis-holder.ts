// Holds a Redis for the test run (test/support/global-setup.js) or the demo (scripts/demo/demo-redis.ts).
// It runs in its own process, prints {"url","source"} on its first line, and stops Redis when its stdin
// closes, which also happens when whoever started it dies, however it dies.
import { startTestRedis } from 'nestjs-redis-queue/testing';

try {
  const redis = await startTestRedis();
  process.stdout.write(`${JSON.stringify({ url: redis.url, source: redis.source })}\n`);
  const stop = async () => {
    await redis.stop();
    process.exit(0);
  };
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.on('SIGTERM', stop);
  process.stdin.resume();
} catch (error) {
  process.stdout.write(`${JSON.stringify({ error: (error as Error).message })}\n`);
  process.exit(1);
}
