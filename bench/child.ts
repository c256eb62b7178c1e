import { ChildProcess, fork } from 'child_process';
import { fileURLToPath } from 'url';
import type { Api, LibraryId, Validator, WorkerStart } from './adapters/index.js';
import type { ChildReport, ChildRequest, WorkerMode } from './protocol.js';

export type DoneReport = Extract<ChildReport, { type: 'done' }>;

const CHILD_SCRIPT = fileURLToPath(new URL('./worker-child.ts', import.meta.url));

/** A worker child process, driven over IPC; every wait is bounded. */
export class WorkerChild {
  private nextId = 1;
  private readonly waiters = new Map<string, { resolve: (r: ChildReport) => void; reject: (e: Error) => void }>();
  /** Reports that arrived before anyone waited for them (a run can finish before its sender awaits). */
  private readonly early = new Map<string, ChildReport>();
  private exited = false;

  private constructor(
    readonly lib: LibraryId,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (report: ChildReport) => {
      if (report.type === 'error') {
        let matched = false;
        for (const [key, w] of this.waiters) {
          if (key.endsWith(`:${report.id}`)) {
            matched = true;
            this.waiters.delete(key);
            w.reject(new Error(`worker child (${lib}): ${report.message}`));
          }
        }
        if (!matched) this.early.set(`error:${report.id}`, report);
        return;
      }
      const key = `${report.type}:${report.id}`;
      const waiter = this.waiters.get(key);
      if (waiter) {
        this.waiters.delete(key);
        waiter.resolve(report);
      } else {
        this.early.set(key, report);
      }
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      for (const w of this.waiters.values()) w.reject(new Error(`worker child (${lib}) exited (code ${code}, signal ${signal})`));
      this.waiters.clear();
    });
  }

  static async spawn(lib: LibraryId, url: string, options: { validate?: Validator; api?: Api; execArgv?: string[] } = {}): Promise<WorkerChild> {
    const child = fork(CHILD_SCRIPT, [], {
      cwd: process.cwd(),
      execArgv: ['--import', '@swc-node/register/esm-register', ...(options.execArgv ?? [])],
      env: { ...process.env, BENCH_LIB: lib, BENCH_REDIS_URL: url, BENCH_VALIDATE: options.validate ?? '', BENCH_API: options.api ?? 'engine' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const wc = new WorkerChild(lib, child);
    await wc.wait('ready', 0, 60_000);
    return wc;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Starts a worker; resolves once it runs, with the id to await its report by. */
  async start(mode: WorkerMode, spec: WorkerStart, expect: number): Promise<number> {
    const id = this.nextId++;
    const started = this.wait('started', id, 60_000);
    this.send({ type: 'start', id, mode, expect, spec });
    await started;
    return id;
  }

  /** The report of a started worker once it handled every expected job. */
  done(id: number, timeoutMs: number): Promise<DoneReport> {
    return this.wait('done', id, timeoutMs) as Promise<DoneReport>;
  }

  async stop(): Promise<void> {
    const id = this.nextId++;
    const stopped = this.wait('stopped', id, 30_000);
    this.send({ type: 'stop', id });
    await stopped;
  }

  /** Starts a worker in `count` mode, waits for `expect` jobs, stops it. */
  async process(spec: WorkerStart, expect: number, timeoutMs: number): Promise<DoneReport> {
    const id = await this.start('count', spec, expect);
    try {
      return await this.done(id, timeoutMs);
    } finally {
      await this.stop();
    }
  }

  /** Asks the child to stop and exit; kills it if it does not within 10 s. */
  async exit(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send({ type: 'exit' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  private send(request: ChildRequest): void {
    if (this.exited) throw new Error(`worker child (${this.lib}) has exited`);
    this.child.send(request);
  }

  private wait(type: ChildReport['type'], id: number, timeoutMs: number): Promise<ChildReport> {
    const key = `${type}:${id}`;
    const failed = this.early.get(`error:${id}`);
    if (failed?.type === 'error') {
      this.early.delete(`error:${id}`);
      return Promise.reject(new Error(`worker child (${this.lib}): ${failed.message}`));
    }
    const arrived = this.early.get(key);
    if (arrived) {
      this.early.delete(key);
      return Promise.resolve(arrived);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(`worker child (${this.lib}): no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(key, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }
}
