import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

/**
 * A harness killed with SIGKILL cannot stop its redis-server (its worker and producer processes exit on
 * their own when the IPC channel closes). Each run records, next to its Redis data, which redis-server
 * it owns; the next run stops the ones whose harness is gone. A process is identified by pid and kernel
 * start time together, so a pid reused by someone else's process is never touched.
 */
const MARKER = 'owner.json';

interface Marker {
  harness: { pid: number; start: string };
  redis: { pid: number; start: string; port: number };
}

/** The start time of a process (clock ticks since boot, /proc/<pid>/stat field 22), or undefined if gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Records that this process owns the redis-server `pid` on `port` (call again after each restart). */
export function recordRedis(redisDir: string, pid: number | undefined, port: number): void {
  if (pid === undefined) return;
  const marker: Marker = {
    harness: { pid: process.pid, start: startTime(process.pid) ?? '' },
    redis: { pid, start: startTime(pid) ?? '', port },
  };
  try {
    writeFileSync(join(redisDir, MARKER), JSON.stringify(marker));
  } catch {
    // best effort: the data directory may be gone already
  }
}

/** Removes the record (the run stopped its redis-server itself). */
export function forgetRedis(redisDir: string): void {
  rmSync(join(redisDir, MARKER), { force: true });
}

/**
 * Stops redis-servers left by harness runs that were killed: those recorded under `.chaos/<run>/redis` and
 * under temporary `rq-chaos-*` directories (the self-check test's). Returns how many were stopped.
 */
export function sweepOrphans(root = '.chaos'): number {
  const markers: string[] = [];
  const scan = (base: string, match: (name: string) => boolean) => {
    if (!existsSync(base)) return;
    for (const name of readdirSync(base)) {
      const path = join(base, name, 'redis', MARKER);
      if (match(name) && existsSync(path)) markers.push(path);
    }
  };
  scan(root, () => true);
  scan(tmpdir(), (name) => name.startsWith('rq-chaos-'));
  let stopped = 0;
  for (const path of markers) {
    let marker: Marker;
    try {
      marker = JSON.parse(readFileSync(path, 'utf8')) as Marker;
    } catch {
      continue;
    }
    const { harness, redis } = marker;
    if (harness.pid === process.pid || (startTime(harness.pid) !== undefined && startTime(harness.pid) === harness.start)) continue;
    const start = startTime(redis.pid);
    if (start !== undefined && start === redis.start) {
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${redis.pid}/cmdline`, 'utf8');
      } catch {
        // gone meanwhile
      }
      if (cmdline.includes('redis-server') && cmdline.includes(`:${redis.port}`)) {
        try {
          process.kill(redis.pid, 'SIGKILL');
          stopped++;
        } catch {
          // gone meanwhile
        }
      }
    }
    rmSync(path, { force: true });
  }
  return stopped;
}

/**
 * Deletes the run directories of passing runs under `root` (`<time>-seed<N>`, with a summary.json saying
 * ok) beyond the `keep` most recent; failed runs stay until someone looks at them.
 */
export function pruneRuns(root: string, keep: number): number {
  if (!existsSync(root)) return 0;
  const passing = readdirSync(root)
    .filter((name) => /^\d{4}-\d\d-\d\dT[\d-]+-seed\d+$/.test(name))
    .filter((name) => {
      try {
        return (JSON.parse(readFileSync(join(root, name, 'summary.json'), 'utf8')) as { ok?: boolean }).ok === true;
      } catch {
        return false;
      }
    })
    .sort()
    .reverse();
  for (const name of passing.slice(keep)) rmSync(join(root, name), { recursive: true, force: true });
  return Math.max(0, passing.length - keep);
}
