import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { TestRedis } from 'nestjs-redis-queue/testing';
import { REPO_ROOT } from './app-process.js';

/**
 * A Redis for the demo, found like the tests find theirs (REDIS_URL, else a Docker container, else a
 * redis-server binary). It is held by a helper process, the same one the tests' global setup uses, which
 * stops Redis as soon as its stdin closes: when `stop()` is called, and also when the demo dies, however.
 */
export async function startDemoRedis(): Promise<TestRedis> {
  const holder = spawn(process.execPath, ['--import', '@swc-node/register/esm-register', 'scripts/redis-holder.ts'], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
    // Its own process group: Ctrl+C reaches only the demo, which then stops Redis after the apps.
    detached: true,
  });
  const exited = new Promise<void>((resolve) => holder.once('exit', () => resolve()));
  const line = await Promise.race([
    new Promise<string>((resolve) => createInterface({ input: holder.stdout }).once('line', resolve)),
    exited.then(() => JSON.stringify({ error: 'the Redis helper process exited before starting Redis' })),
  ]);
  const started = JSON.parse(line) as { url?: string; source?: TestRedis['source']; error?: string };
  if (started.error || !started.url || !started.source) {
    holder.kill('SIGKILL');
    throw new Error(started.error ?? `unexpected answer from the Redis helper: ${line}`);
  }
  return {
    url: started.url,
    source: started.source,
    stop: async () => {
      holder.stdin.end();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, 15_000)))]);
      clearTimeout(timer);
      holder.kill('SIGKILL');
    },
  };
}
