import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * One Redis for the whole run (REDIS_URL, else a testcontainers container, else a redis-server binary),
 * exported as REDIS_URL to the test workers. Suites use their own key prefixes, so they can share it.
 */
export default async function globalSetup() {
  if (process.env.REDIS_URL) return;
  const daemon = spawn(process.execPath, ['--import', '@swc-node/register/esm-register', 'scripts/redis-holder.ts'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: daemon.stdout });
    lines.once('line', resolve);
    daemon.once('exit', (code) => reject(new Error(`the Redis test daemon exited (${code}) before starting Redis`)));
  });
  const started = JSON.parse(line);
  if (started.error) throw new Error(started.error);
  globalThis.__redisDaemon = daemon;
  process.env.REDIS_URL = started.url;
  process.env.RQ_TEST_REDIS_SOURCE = started.source;
}
