// Holds the test run's Redis: started by global-setup.js in its own process (so the TypeScript harness
// loads with a TS loader), it prints {"url","source"} and stops Redis when its stdin closes, which also
// happens when Jest dies.
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
