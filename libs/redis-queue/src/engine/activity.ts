import { registryKeys } from './keys.js';
import { RedisClient } from './redis-client.js';

/** The actions the dashboard and the CLI take on queues. */
export type ActivityAction = 'retry' | 'remove' | 'cancel' | 'promote' | 'pause' | 'resume';

/** One action as the activity log keeps it: who did what to which jobs, and how it ended. */
export interface ActivityEntry {
  at: Date;
  /** Who: the dashboard's request user, or the CLI's OS user and host. */
  actor: string;
  source: 'dashboard' | 'cli';
  action: ActivityAction;
  queue: string;
  /** The jobs named (at most 100 kept), absent for queue-wide actions. */
  ids?: string[];
  /** Every dead job of the queue (retry or remove all). */
  all?: boolean;
  /** What happened, in words (e.g. "retried 3 dead job(s)"). */
  outcome: string;
  /** The client's address, when known. */
  ip?: string;
}

/** Entries kept (the oldest go first). */
const KEEP = 1000;
const MAX_IDS = 100;

/**
 * The audit trail of actions on queues, kept in Redis under `<prefix>:activity` (a capped list, newest
 * first: LPUSH + LTRIM in one MULTI, single-key commands), so that every dashboard instance and the CLI
 * share it and it outlives restarts.
 */
export class ActivityLog {
  constructor(
    private readonly connection: RedisClient | (() => RedisClient),
    private readonly prefix: string,
  ) {}

  async record(entry: ActivityEntry): Promise<void> {
    const stored = { ...entry, at: entry.at.getTime(), ids: entry.ids?.slice(0, MAX_IDS) };
    const key = registryKeys(this.prefix).activity;
    await this.client().multi().lpush(key, JSON.stringify(stored)).ltrim(key, 0, KEEP - 1).exec();
  }

  /** The latest entries, newest first. */
  async list(limit = 50): Promise<ActivityEntry[]> {
    const rows = await this.client().lrange(registryKeys(this.prefix).activity, 0, Math.max(1, Math.min(KEEP, limit)) - 1);
    const entries: ActivityEntry[] = [];
    for (const row of rows) {
      try {
        const e = JSON.parse(row) as Omit<ActivityEntry, 'at'> & { at: number };
        entries.push({ ...e, at: new Date(e.at) });
      } catch {
        // not ours: skipped
      }
    }
    return entries;
  }

  private client(): RedisClient {
    return typeof this.connection === 'function' ? this.connection() : this.connection;
  }
}
