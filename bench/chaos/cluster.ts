import { ChildProcess, fork } from 'child_process';
import { closeSync, openSync } from 'fs';
import { join } from 'path';
import { fileURLToPath } from 'url';
import { Journal } from './journal.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./worker-process.ts', import.meta.url));
const PRODUCER_SCRIPT = fileURLToPath(new URL('./producer-process.ts', import.meta.url));
const live = new Set<ChildProcess>();

/** Every child still running gets SIGKILL (harness exit, Ctrl-C, crash): nothing outlives a run. */
export function killAllChildren(): void {
  for (const child of live) child.kill('SIGKILL');
}

interface Spawned {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: string | null }>;
  ready: Promise<void>;
}

/** Starts a TypeScript child with the repo's loader; stderr goes to `stderrPath`; ready = its IPC hello. */
function spawnChild(script: string, env: Record<string, string>, stderrPath: string, readyMs: number): Spawned {
  const stderr = openSync(stderrPath, 'a');
  const child = fork(script, [], {
    cwd: process.cwd(),
    execArgv: ['--import', '@swc-node/register/esm-register'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', stderr, 'ipc'],
  });
  closeSync(stderr);
  live.add(child);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} not ready within ${readyMs} ms (see ${stderrPath})`)), readyMs);
    child.on('message', (m: { ready?: boolean }) => {
      if (m.ready) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited before ready (code ${code}, signal ${signal}; see ${stderrPath})`));
    });
  });
  ready.catch(() => undefined);
  return { child, exited, ready };
}

export interface WorkerConfig {
  dir: string;
  concurrency: number;
  leaseMs: number;
  shutdownMs: number;
  idRetentionMs: number;
  /** Redis URL of each slot (its proxy port). */
  url: (slot: number) => string;
  /** Clock offset of each slot, ms (0: true clock). */
  skew: (slot: number) => number;
}

type Cause = 'sigkill' | 'sigterm' | 'stop' | 'unexpected';

/**
 * One worker slot: a sequence of worker processes (incarnations `w<slot>.<generation>`), each with its
 * own journal. The harness kills and restarts them; an exit nobody asked for is a crash and is counted.
 */
export class WorkerSlot {
  generation = 0;
  private current?: Spawned & { inst: string; cause?: Cause };
  private restarting?: Promise<void>;
  /** The current incarnation finished booting (its worker loops run). */
  private readyNow = false;

  constructor(
    readonly slot: number,
    private readonly config: WorkerConfig,
    private readonly journal: Journal,
  ) {}

  /** Up and past its bootstrap (claiming). */
  get up(): boolean {
    return this.current !== undefined && this.current.cause === undefined && this.readyNow;
  }

  get inst(): string | undefined {
    return this.current?.inst;
  }

  async start(): Promise<void> {
    const generation = ++this.generation;
    const inst = `w${this.slot}.${generation}`;
    const base = join(this.config.dir, `worker-${this.slot}-${generation}`);
    const spawned = spawnChild(
      WORKER_SCRIPT,
      {
        CHAOS_REDIS_URL: this.config.url(this.slot),
        CHAOS_JOURNAL: `${base}.jsonl`,
        CHAOS_INST: inst,
        CHAOS_SLOT: String(this.slot),
        CHAOS_CONCURRENCY: String(this.config.concurrency),
        CHAOS_LEASE_MS: String(this.config.leaseMs),
        CHAOS_SHUTDOWN_MS: String(this.config.shutdownMs),
        CHAOS_ID_RETENTION_MS: String(this.config.idRetentionMs),
        CHAOS_SKEW_MS: String(this.config.skew(this.slot)),
      },
      `${base}.stderr`,
      90_000,
    );
    const current = { ...spawned, inst } as Spawned & { inst: string; cause?: Cause };
    this.current = current;
    this.readyNow = false;
    void spawned.exited.then(({ code, signal }) => {
      const cause = current.cause ?? 'unexpected';
      this.journal.write({ e: 'exit', inst, at: Date.now(), code, signal, cause });
      if (this.current === current) this.readyNow = false;
    });
    await spawned.ready;
    if (this.current === current) this.readyNow = true;
  }

  /**
   * Sends `signal` to the running incarnation and waits for it to exit (a SIGTERM that does not end it
   * within `termMs` is followed by SIGKILL). Resolves false when nothing was running.
   */
  async kill(signal: 'SIGKILL' | 'SIGTERM', termMs = 30_000, cause?: Cause): Promise<boolean> {
    const current = this.current;
    if (!current || current.cause !== undefined || current.child.exitCode !== null || current.child.signalCode !== null) return false;
    current.cause = cause ?? (signal === 'SIGKILL' ? 'sigkill' : 'sigterm');
    this.readyNow = false;
    current.child.kill(signal);
    if (signal === 'SIGTERM') {
      const timer = setTimeout(() => current.child.kill('SIGKILL'), termMs);
      await current.exited;
      clearTimeout(timer);
    } else {
      await current.exited;
    }
    return true;
  }

  /** Whether the current incarnation has exited (crashed, or was killed). */
  get down(): boolean {
    const c = this.current;
    return !c || c.child.exitCode !== null || c.child.signalCode !== null;
  }

  /** Starts a new incarnation unless one is running or starting; errors (boot failure) are retried once. */
  restart(): Promise<void> {
    this.restarting ??= (async () => {
      try {
        if (!this.down) return;
        try {
          await this.start();
        } catch {
          if (this.down) await this.start();
        }
      } finally {
        this.restarting = undefined;
      }
    })();
    return this.restarting;
  }

  async stop(termMs: number): Promise<void> {
    await this.restarting?.catch(() => undefined);
    await this.kill('SIGTERM', termMs, 'stop');
  }
}

/** The producer process. */
export class ProducerProcess {
  private constructor(private readonly spawned: Spawned) {}

  static async start(env: { url: string; journal: string; seed: number; rate: number; rulesRate: number; leaseMs: number }, stderrPath: string): Promise<ProducerProcess> {
    const spawned = spawnChild(
      PRODUCER_SCRIPT,
      {
        CHAOS_REDIS_URL: env.url,
        CHAOS_JOURNAL: env.journal,
        CHAOS_SEED: String(env.seed),
        CHAOS_RATE: String(env.rate),
        CHAOS_RULES_RATE: String(env.rulesRate),
        CHAOS_LEASE_MS: String(env.leaseMs),
      },
      stderrPath,
      90_000,
    );
    await spawned.ready;
    return new ProducerProcess(spawned);
  }

  /** Asks it to stop (finish calls in flight, retry failed enqueues once more) and waits, at most `ms`. */
  async stop(ms: number): Promise<{ code: number | null; signal: string | null }> {
    const { child } = this.spawned;
    if (child.connected) child.send({ stop: true });
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    const result = await this.spawned.exited;
    clearTimeout(timer);
    return result;
  }
}
