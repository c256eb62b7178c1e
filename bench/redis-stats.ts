import { Redis } from 'ioredis';

/** `INFO commandstats` as { command: { calls, usec } } (subcommands keep their `config|get` names). */
export type CommandStats = Record<string, { calls: number; usec: number }>;

/** Commands the harness itself sends; never counted against a library. */
const HARNESS = new Set(['info', 'config|resetstat', 'config|get', 'flushall', 'client|info', 'monitor', 'memory|usage', 'slowlog|get', 'slowlog|reset', 'dbsize', 'client|list']);

export async function commandStats(admin: Redis): Promise<CommandStats> {
  const text = await admin.info('commandstats');
  const stats: CommandStats = {};
  for (const line of text.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m && !HARNESS.has(m[1])) stats[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
  }
  return stats;
}

/** A numeric field of `INFO <section>`. */
export async function infoNumber(admin: Redis, section: string, field: string): Promise<number> {
  const text = await admin.info(section);
  const m = new RegExp(`^${field}:([0-9.]+)`, 'm').exec(text);
  if (!m) throw new Error(`INFO ${section} has no ${field}`);
  return Number(m[1]);
}

export async function infoString(admin: Redis, section: string, field: string): Promise<string> {
  const text = await admin.info(section);
  return new RegExp(`^${field}:(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '?';
}

/** CPU seconds Redis has used (user + system), to cost work per job including network I/O. */
export async function redisCpuSeconds(admin: Redis): Promise<number> {
  const text = await admin.info('cpu');
  const get = (f: string) => Number(new RegExp(`^${f}:([0-9.]+)`, 'm').exec(text)?.[1] ?? 0);
  return get('used_cpu_sys') + get('used_cpu_user');
}

/** Connections Redis holds now (CLIENT LIST), the caller's included. */
export async function clientCount(admin: Redis): Promise<number> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  return list.split('\n').filter((line) => line.trim() !== '').length;
}

export const usedMemory = (admin: Redis): Promise<number> => infoNumber(admin, 'memory', 'used_memory');

export interface CommandSummary {
  /** Every command Redis ran, including those called inside Lua scripts. */
  calls: number;
  /** EVAL/EVALSHA/FCALL calls. */
  scriptCalls: number;
  /** µs Redis spent running scripts (including the commands they called). */
  scriptUsec: number;
  byCommand: Record<string, number>;
}

/** Sums command stats, less `polls` rounds of `pollCommands` (the harness's own end-of-run polls). */
export function summarize(stats: CommandStats, pollCommands: Readonly<Record<string, number>> = {}, polls = 0): CommandSummary {
  const byCommand: Record<string, number> = {};
  let calls = 0;
  let scriptCalls = 0;
  let scriptUsec = 0;
  for (const [command, s] of Object.entries(stats)) {
    const n = Math.max(0, s.calls - (pollCommands[command] ?? 0) * polls);
    if (n === 0) continue;
    byCommand[command] = n;
    calls += n;
    if (/^(eval|evalsha|eval_ro|evalsha_ro|fcall|fcall_ro)$/.test(command)) {
      scriptCalls += n;
      scriptUsec += s.usec;
    }
  }
  return { calls, scriptCalls, scriptUsec, byCommand };
}

/**
 * Counts the commands clients send (round trips' worth, not the ones Lua scripts call) with MONITOR,
 * skipping the harness's own connections (by address). MONITOR slows Redis: use it on small samples.
 */
export class CommandMonitor {
  private count = 0;
  private readonly byCommand: Record<string, number> = {};
  private constructor(private readonly monitor: Redis & { disconnect(): void }) {}

  static async start(admin: Redis, excludeAddresses: ReadonlySet<string>): Promise<CommandMonitor> {
    const monitor = await admin.monitor();
    const m = new CommandMonitor(monitor);
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === 'lua' || excludeAddresses.has(source)) return;
      const name = String(args[0]).toLowerCase();
      if (HARNESS.has(name)) return;
      m.count++;
      m.byCommand[name] = (m.byCommand[name] ?? 0) + 1;
    });
    // Give MONITOR a moment to be in place before the measured work starts.
    await new Promise((r) => setTimeout(r, 50));
    return m;
  }

  async stop(): Promise<{ count: number; byCommand: Record<string, number> }> {
    await new Promise((r) => setTimeout(r, 100));
    this.monitor.disconnect();
    return { count: this.count, byCommand: { ...this.byCommand } };
  }
}

/** The address (ip:port) Redis sees for this connection, to exclude it from MONITOR counts. */
export async function ownAddress(client: Redis): Promise<string> {
  const info = (await client.call('CLIENT', 'INFO')) as string;
  return /addr=(\S+)/.exec(info)?.[1] ?? '';
}
