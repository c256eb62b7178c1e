import { readFileSync } from 'fs';
import { dirname, join } from 'path';
import { fileURLToPath } from 'url';
import { QueueKeys } from './keys.js';
import { RedisClient } from './redis-client.js';

type Arg = string | number;

/** The queue's Lua scripts as ioredis commands (EVALSHA, falling back to EVAL after a script flush). */
export interface ScriptCommands {
  rqEnqueue(...args: Arg[]): Promise<number[]>;
  rqClaim(...args: Arg[]): Promise<[string | number, number, number, string?]>;
  rqRenew(...args: Arg[]): Promise<number[]>;
  rqRelease(...args: Arg[]): Promise<number>;
}

export type ScriptedClient = RedisClient & ScriptCommands;

const SCRIPTS: ReadonlyArray<{ command: keyof ScriptCommands; file: string; keys: number }> = [
  { command: 'rqEnqueue', file: 'enqueue.lua', keys: 6 },
  { command: 'rqClaim', file: 'claim.lua', keys: 10 },
  { command: 'rqRenew', file: 'renew.lua', keys: 1 },
  { command: 'rqRelease', file: 'release.lua', keys: 4 },
];

let sources: Map<string, string> | undefined;

function loadSources(): Map<string, string> {
  if (!sources) {
    const dir = join(dirname(fileURLToPath(import.meta.url)), 'lua');
    const common = readFileSync(join(dir, '_common.lua'), 'utf8');
    sources = new Map(SCRIPTS.map((s) => [s.command, `${common}\n${readFileSync(join(dir, s.file), 'utf8')}`]));
  }
  return sources;
}

/** Defines the scripts on a client once; returns it typed with them. */
export function withScripts(client: RedisClient): ScriptedClient {
  const scripted = client as ScriptedClient;
  if (typeof scripted.rqClaim !== 'function') {
    const lua = loadSources();
    for (const s of SCRIPTS) client.defineCommand(s.command, { numberOfKeys: s.keys, lua: lua.get(s.command)! });
  }
  return scripted;
}

/** KEYS of each script, in the order its header declares. */
export const scriptKeys = {
  enqueue: (k: QueueKeys): string[] => [k.ready, k.delayed, k.ids, k.seq, k.wake, k.retainedIds],
  claim: (k: QueueKeys): string[] => [
    k.ready,
    k.delayed,
    k.lease,
    k.claims,
    k.dead,
    k.deadIndex,
    k.ids,
    k.claimCounter,
    k.wake,
    k.retainedIds,
  ],
  renew: (k: QueueKeys): string[] => [k.lease],
  release: (k: QueueKeys): string[] => [k.ready, k.lease, k.claims, k.wake],
};
