import { ChildProcess, spawn } from 'child_process';
import { createInterface } from 'readline';

/** A TypeScript file run in its own Node process (with the repo's TS loader), its stdout read by line. */
export class ChildScript {
  readonly lines: string[] = [];
  /** Its stderr, by line (also passed through to this process's stderr). */
  readonly errors: string[] = [];
  private readonly listeners = new Set<() => void>();
  readonly exited: Promise<number | null>;

  private constructor(readonly process: ChildProcess) {
    createInterface({ input: process.stdout! }).on('line', (line) => {
      this.lines.push(line);
      for (const listener of this.listeners) listener();
    });
    createInterface({ input: process.stderr! }).on('line', (line) => {
      this.errors.push(line);
      globalThis.process.stderr.write(`${line}\n`);
    });
    this.exited = new Promise((resolve) => process.once('exit', (code) => resolve(code)));
  }

  static start(script: string, env: Record<string, string>): ChildScript {
    const child = spawn(process.execPath, ['--import', '@swc-node/register/esm-register', script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new ChildScript(child);
  }

  /** Resolves with the first line (already printed or still to come) that matches. */
  waitForLine(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = this.lines.find((l) => pattern.test(l));
        if (line !== undefined) {
          cleanup();
          resolve(line);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; got: ${this.lines.join(' | ')}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal);
    return this.exited;
  }
}
