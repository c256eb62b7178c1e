import { spawn } from 'child_process';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

/** The harness normally takes about 30 s here; past this it is stopped (SIGTERM) and the test fails. */
const HARNESS_LIMIT_MS = 80_000;

/**
 * The fault harness (`npm run chaos`) must be able to fail: with AOF off, a `kill -9` of Redis wipes
 * jobs that were acknowledged to the producer, and the harness has to report them as lost and exit
 * non-zero. A short run: two workers, Redis kills only (the first fault always is one), about 30 s.
 */
describe('fault harness self-check', () => {
  it('reports lost jobs and fails when Redis runs without persistence and is killed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rq-chaos-selfcheck-'));
    try {
      const args = ['--no-aof', '--faults=redis', '--duration=12', '--workers=2', '--concurrency=4', '--rate=40', '--seed=7', `--dir=${dir}`];
      const { code, signal, lines, stderr, ms } = await runHarness(args, HARNESS_LIMIT_MS);
      const output = `harness exit ${code ?? signal} after ${ms} ms; stderr: ${stderr.slice(-2000) || '(none)'}; last lines:\n${lines.slice(-25).join('\n')}`;
      let summary: { lost?: number; redisRestarts?: number; aof?: boolean; ok?: boolean } = {};
      try {
        summary = JSON.parse(lines[lines.length - 1]) as typeof summary;
      } catch {
        // reported below with the output
      }
      expect({ aof: summary.aof, ok: summary.ok, code, restarted: (summary.redisRestarts ?? 0) > 0, lost: (summary.lost ?? 0) > 0, output }).toEqual({
        aof: false,
        ok: false,
        code: 1,
        restarted: true,
        lost: true,
        output,
      });
      expect(lines.some((line) => /FAIL lost = [1-9]/.test(line))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, HARNESS_LIMIT_MS + 15_000);
});

/** Runs bench/chaos/chaos.ts with the repo's TS loader; stops it (and everything it started) after `ms`. */
function runHarness(args: string[], ms: number): Promise<{ code: number | null; signal: string | null; lines: string[]; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', '@swc-node/register/esm-register', 'bench/chaos/chaos.ts', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    // SIGTERM: the harness kills its workers, producer and redis-server before exiting; SIGKILL if it hangs.
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, ms);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, lines: out.trim().split('\n'), stderr: err.trim(), ms: Date.now() - started });
    });
  });
}
