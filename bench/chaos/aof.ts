import { cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'fs';
import { join } from 'path';

/**
 * Where Redis keeps its append-only file during a run.
 *
 * The harness kills processes, never the machine: whatever Redis handed to write(2) survives its kill -9
 * in the page cache, fsync or not. But with `appendfsync everysec` Redis postpones writing the AOF (for
 * up to 2 s) while its previous background fsync is still running, and goes on replying to clients
 * meanwhile; on a slow disk a kill -9 in that window loses writes Redis acknowledged. That is Redis's
 * documented everysec window, not the queue's doing (seed 2 of the default run met it: two jobs
 * acknowledged 1 ms before a kill -9 never reached the AOF). The harness tests the queue, so by default
 * the AOF lives on tmpfs (/dev/shm), where fsync returns at once and no write is ever postponed: Redis
 * runs as configured (AOF on, everysec) and every acknowledged write is in the file a restart reads.
 * `--aof-on-disk` keeps it in the run directory instead, to watch the window.
 *
 * On tmpfs, the run's `redis` directory (Redis's `dir`: its log, its temporary files and `appendonlydir`,
 * which must share one file system for Redis to rename files into place) is a symlink to a directory
 * under /dev/shm, which `settleAof` replaces by a copy (kept with a failed run's journals) or removes.
 */
const SHM = '/dev/shm';
const PREFIX = 'rq-chaos-aof-';

/** Makes `redisDir` (not yet existing) a directory on tmpfs; returns where, or undefined without tmpfs. */
export function placeRedisDirOnTmpfs(redisDir: string): string | undefined {
  if (!existsSync(SHM)) return undefined;
  sweepTmpfs();
  const target = mkdtempSync(join(SHM, PREFIX));
  writeFileSync(join(target, '.owner'), String(process.pid));
  symlinkSync(target, redisDir);
  return target;
}

/** Ends the tmpfs placement: `keep` copies the files into the run directory; tmpfs is freed either way. */
export function settleAof(redisDir: string, keep: boolean): void {
  let target: string;
  try {
    if (!lstatSync(redisDir).isSymbolicLink()) return;
    target = readlinkSync(redisDir);
  } catch {
    return; // not on tmpfs, or the run directory is gone
  }
  rmSync(redisDir, { force: true });
  if (keep && existsSync(target)) cpSync(target, redisDir, { recursive: true, filter: (src) => !src.endsWith('.owner') });
  rmSync(target, { recursive: true, force: true });
}

/** Frees the tmpfs directories of harness runs that were killed before they could (their Redis is stopped first: sweepOrphans). */
function sweepTmpfs(): void {
  for (const name of readdirSync(SHM).filter((n) => n.startsWith(PREFIX))) {
    const path = join(SHM, name);
    try {
      const owner = Number(readFileSync(join(path, '.owner'), 'utf8'));
      process.kill(owner, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EPERM') rmSync(path, { recursive: true, force: true });
    }
  }
}

/**
 * Which of `ids` never reached the AOF in `redisDir`: an acknowledged job absent from the file Redis
 * restarts from was lost by Redis before the queue could do anything with it. A job record starts with
 * its id and the field separator, and every command is written in RESP, where each argument follows a
 * line break. Undefined when the AOF cannot tell: none kept, or rewritten into an RDB base (whose strings
 * may be compressed).
 */
export function idsNotInAof(redisDir: string, ids: string[]): string[] | undefined {
  const aofDir = join(redisDir, 'appendonlydir');
  if (!existsSync(aofDir)) return undefined;
  const names = readdirSync(aofDir);
  const rewritten = names.some((name) => name.endsWith('.rdb') && statSync(join(aofDir, name)).size > 1024);
  if (rewritten) return undefined;
  const files = names.filter((name) => name.endsWith('.aof')).map((name) => readFileSync(join(aofDir, name)));
  return ids.filter((id) => {
    const needle = Buffer.from(`\n${id}\x1f`);
    return !files.some((file) => file.includes(needle));
  });
}
