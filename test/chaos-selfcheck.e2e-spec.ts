import { spawn } from 'child_process';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

/**
 * The fault harness (`npm run chaos`) must be able to fail: with AOF off, a `kill -9` of Redis wipes
 * jobs that were acknowledged to the producer, and the harness has to report them as lost and exit
 * non-zero. A short run: two workers, Redis kills only, about half a minute.
 */
describe('fault harness self-check', () => {
  it('reports lost jobs and fails when Redis runs without persistence and is killed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rq-chaos-selfcheck-'));
    try {
      const args = ['--no-aof', '--faults=redis', '--duration=12', '--workers=2', '--concurrency=4', '--rate=40', '--seed=7', `--dir=${dir}`];
      const { code, lines } = await runHarness(args, 100_000);
      const summary = JSON.parse(lines[lines.length - 1]) as { lost: number; redisRestarts: number; aof: boolean; ok: boolean };
      expect(summary.aof).toBe(false);
      expect(summary.redisRestarts).toBeGreaterThan(0);
      expect(summary.lost).toBeGreaterThan(0);
      expect(summary.ok).toBe(false);
      expect(lines.some((line) => /FAIL lost = [1-9]/.test(line))).toBe(true);
      expect(code).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

/** Runs bench/chaos/chaos.ts with the repo's TS loader; stops it (and everything it started) after `ms`. */
function runHarness(args: string[], ms: number): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', '@swc-node/register/esm-register', 'bench/chaos/chaos.ts', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    // SIGTERM: the harness kills its workers, producer and redis-server before exiting.
    const timer = setTimeout(() => child.kill('SIGTERM'), ms);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, lines: out.trim().split('\n') });
    });
  });
}
