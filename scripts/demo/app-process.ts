import { ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository root: the apps run with it as their working directory. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type DemoApp = 'demo-api' | 'demo-worker';

export interface AppProcessOptions {
  /** Added to this process's environment. */
  env: Record<string, string>;
  /** Each line the app writes (stdout and stderr). */
  onLine?: (line: string) => void;
  /** How long the app may take to say it is ready. Default: 60 s. */
  readyTimeoutMs?: number;
}

export interface AppExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const live = new Set<ChildProcess>();
// Last resort: should this process exit without stopping its apps, take them along. (The apps also stop
// by themselves when the IPC channel to their parent closes.)
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * One of the demo apps, running as a child process exactly as a user would start it (TypeScript through
 * the SWC loader), with an IPC channel on which the app says when it is ready.
 */
export class AppProcess {
  /** Resolves when the process has exited. */
  readonly exited: Promise<AppExit>;
  private readonly lines: string[] = [];

  private constructor(
    readonly name: DemoApp,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Starts `apps/<name>/src/main.ts` and resolves once it reports ready; rejects with its output otherwise. */
  static async start(name: DemoApp, options: AppProcessOptions): Promise<AppProcess> {
    const child = spawn(process.execPath, ['--import', '@swc-node/register/esm-register', `apps/${name}/src/main.ts`], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Its own process group: Ctrl+C reaches only the parent, which then stops the app in order.
      detached: true,
    });
    live.add(child);
    const app = new AppProcess(name, child);
    void app.exited.then(() => live.delete(child));
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        app.lines.push(line);
        if (app.lines.length > 500) app.lines.shift();
        options.onLine?.(line);
      });
    }
    const timeoutMs = options.readyTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      new Promise<'ready'>((resolve) =>
        child.on('message', (message: unknown) => {
          if (typeof message === 'object' && message !== null && (message as { ready?: unknown }).ready === true) resolve('ready');
        }),
      ),
      app.exited.then((exit) => `exited (${exit.signal ?? `code ${exit.code}`}) before it was ready`),
      new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`was not ready after ${timeoutMs} ms`), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (outcome !== 'ready') {
      await app.stop(2000);
      await settleOutput();
      throw new Error(`${name} ${outcome}. Its last output:\n${app.output(40)}`);
    }
    return app;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The app's last `lines` lines of output. */
  output(lines = 500): string {
    return this.lines.slice(-lines).join('\n');
  }

  /**
   * Asks the app to shut down (SIGTERM: it finishes running jobs and closes its connections) and waits;
   * after `graceMs` it is killed.
   */
  async stop(graceMs = 15_000): Promise<AppExit> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const exit = await Promise.race([
        this.exited,
        new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), graceMs))),
      ]);
      clearTimeout(timer);
      if (!exit) this.child.kill('SIGKILL');
    }
    return this.exited;
  }
}

/** Lets the last lines of a process that just exited reach their listeners. */
function settleOutput(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 50));
}
