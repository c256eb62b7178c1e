import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeSync } from 'fs';
import { join } from 'path';
import type { JobKind } from './jobs.js';

/**
 * Append-only event logs, one JSON object a line, one file per process (per worker incarnation).
 * Lines are written with writeSync, so a line that was written survives a SIGKILL of its writer
 * (no fsync: the machine does not crash in this harness, only processes).
 */
export type JournalEvent =
  // producer (and the harness, for its probes)
  | { e: 'attempt'; id: string; kind: JobKind; delay: number; at: number }
  | { e: 'ack'; id: string; at: number }
  | { e: 'fail'; id: string; at: number; error: string }
  // worker incarnations; `at` is the worker's own clock (skewed by `skew` ms on the skewed worker)
  | { e: 'hello'; inst: string; slot: number; pid: number; skew: number; at: number }
  // `q`: the queue when it is not the main one (the rules queue); `token`: the claim token
  // (`counter-micros`, see rules-checker.ts claimTimes), `group`: the job's group
  | { e: 'start'; id: string; attempt: number; at: number; enqueuedAt: number; q?: string; token?: string; group?: string }
  | { e: 'done'; id: string; attempt: number; at: number; startedAt: number; q?: string }
  | { e: 'abort'; id: string; attempt: number; at: number; reason: string; q?: string }
  | { e: 'throw'; id: string; attempt: number; at: number; q?: string }
  /** A handler start of the schedule's queue (its id names the tick). */
  | { e: 'tick'; id: string; attempt: number; at: number; enqueuedAt: number }
  /** The producer cancelled a tracked job: called at `at`, returned (or failed) at `doneAt`. */
  | { e: 'cancel'; id: string; at: number; doneAt: number; outcome?: string; state?: string; error?: string }
  | { e: 'log'; level: string; at: number; msg: string }
  /** The worker's event loop ran `ms` late (an overloaded machine starving the process), seen at `at`. */
  | { e: 'lag'; at: number; ms: number }
  // the harness
  | { e: 'fault'; kind: string; at: number; target?: string; ms?: number; detail?: string; inst?: string }
  | { e: 'exit'; inst: string; at: number; code: number | null; signal: string | null; cause: string };

export class Journal {
  private fd: number | undefined;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'a');
  }

  write(event: JournalEvent): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, `${JSON.stringify(event)}\n`);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Every complete line of a journal; a torn last line (writer killed mid-write) is skipped. */
export function readJournal(path: string): JournalEvent[] {
  if (!existsSync(path)) return [];
  const events: JournalEvent[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    try {
      events.push(JSON.parse(line) as JournalEvent);
    } catch {
      // a torn line
    }
  }
  return events;
}

/** Worker journals of a run directory: `worker-<slot>-<generation>.jsonl`, by incarnation name. */
export function workerJournals(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const name of readdirSync(dir).sort()) {
    const m = /^worker-(\d+)-(\d+)\.jsonl$/.exec(name);
    if (m) found.set(`w${m[1]}.${m[2]}`, join(dir, name));
  }
  return found;
}
