/** A wake-up the worker loop awaits; any number of notify() calls before the await count as one. */
export class Wakeup {
  private pending: Promise<void> | undefined;
  private resolve: (() => void) | undefined;
  private fired = false;
  private soon: NodeJS.Immediate | undefined;

  wait(): Promise<void> {
    if (this.fired) {
      this.fired = false;
      return Promise.resolve();
    }
    if (!this.pending) this.pending = new Promise<void>((resolve) => (this.resolve = resolve));
    return this.pending;
  }

  notify(): void {
    if (this.resolve) {
      const resolve = this.resolve;
      this.pending = this.resolve = undefined;
      resolve();
    } else {
      this.fired = true;
    }
  }

  /** Notifies after the current batch of I/O callbacks, so completions in one tick settle together. */
  notifySoon(): void {
    if (!this.soon) {
      this.soon = setImmediate(() => {
        this.soon = undefined;
        this.notify();
      });
    }
  }

  dispose(): void {
    if (this.soon) clearImmediate(this.soon);
    this.soon = undefined;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());
