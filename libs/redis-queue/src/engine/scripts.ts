import { readFileSync } from 'fs';
import { dirname, join } from 'path';
import { fileURLToPath } from 'url';
import type { Cluster } from 'ioredis';
import { Packr } from 'msgpackr';
import { QUEUE_KEY_TABLE } from './keys.js';
import { RedisClient } from './redis-client.js';

/**
 * The queue's Lua scripts as ioredis commands (EVALSHA, falling back to EVAL after a script flush). Each
 * takes every key of its queue (keys.ts, in table order) and one cmsgpack-encoded map of arguments.
 */
export interface ScriptCommands {
  rqEnqueue(...args: Array<string | Buffer>): Promise<number[]>;
  rqClaim(...args: Array<string | Buffer>): Promise<ClaimReply>;
  rqRenew(...args: Array<string | Buffer>): Promise<[number[], string[]]>;
  rqRelease(...args: Array<string | Buffer>): Promise<number>;
  rqCancel(...args: Array<string | Buffer>): Promise<[string, string]>;
  rqPause(...args: Array<string | Buffer>): Promise<number>;
  rqDead(...args: Array<string | Buffer>): Promise<[number, number]>;
  rqPromote(...args: Array<string | Buffer>): Promise<number>;
  rqConfigure(...args: Array<string | Buffer>): Promise<Array<string | null>>;
  rqSchedule(...args: Array<string | Buffer>): Promise<number>;
}

/** claim.lua's reply: token (0: none), records joined by RS, ms to the next look (-1: none), stale
 * settles, recovered tokens joined by RS, Redis's now (ms). */
export type ClaimReply = [string | number, string, number, number, string, number];

export type ScriptedClient = RedisClient & ScriptCommands;

/** Each script and its file; every script receives all of its queue's keys. */
const SCRIPTS: ReadonlyArray<{ command: keyof ScriptCommands; file: string }> = [
  { command: 'rqEnqueue', file: 'enqueue.lua' },
  { command: 'rqClaim', file: 'claim.lua' },
  { command: 'rqRenew', file: 'renew.lua' },
  { command: 'rqRelease', file: 'release.lua' },
  { command: 'rqCancel', file: 'cancel.lua' },
  { command: 'rqPause', file: 'pause.lua' },
  { command: 'rqDead', file: 'dead.lua' },
  { command: 'rqPromote', file: 'promote.lua' },
  { command: 'rqConfigure', file: 'configure.lua' },
  { command: 'rqSchedule', file: 'schedule.lua' },
];

/** Shared Lua, prepended in this order. */
const LIBRARIES = ['_common.lua', '_record.lua', '_queue.lua'];

/** Lua that names the queue's keys: `local K = { ready = KEYS[1], ... }`, from the one key table. */
function keyPrelude(): string {
  const fields = QUEUE_KEY_TABLE.map(([name], i) => `${name} = KEYS[${i + 1}]`);
  return `local K = { ${fields.join(', ')} }`;
}

let sources: Map<string, string> | undefined;

function loadSources(): Map<string, string> {
  if (!sources) {
    const dir = join(dirname(fileURLToPath(import.meta.url)), 'lua');
    const libraries = LIBRARIES.map((file) => readFileSync(join(dir, file), 'utf8')).join('\n');
    const prelude = keyPrelude();
    sources = new Map(
      SCRIPTS.map((s) => {
        const body = readFileSync(join(dir, s.file), 'utf8');
        // A flags line (`#!lua flags=allow-oom`) must stay the script's first line.
        const shebang = body.startsWith('#!') ? body.slice(0, body.indexOf('\n') + 1) : '';
        return [s.command, `${shebang}${prelude}\n${libraries}\n${body.slice(shebang.length)}`];
      }),
    );
  }
  return sources;
}

/** The full Lua source of each script (key prelude, shared libraries, body), by command; for tests. */
export function scriptSources(): ReadonlyMap<string, string> {
  return loadSources();
}

/** Defines the scripts on a client once; returns it typed with them. */
export function withScripts(client: RedisClient): ScriptedClient {
  const scripted = client as ScriptedClient;
  if (typeof scripted.rqClaim !== 'function') {
    const lua = loadSources();
    for (const s of SCRIPTS) client.defineCommand(s.command, { numberOfKeys: QUEUE_KEY_TABLE.length, lua: lua.get(s.command)! });
  }
  return scripted;
}

const packr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });

/**
 * Encodes a script's argument map for `client` (cmsgpack on the Lua side; undefined fields are left
 * out), naming the command that publishes on the queue's channel through it: SPUBLISH on Cluster.
 */
export function packArgs(client: RedisClient, args: object): Buffer {
  return packr.pack((client as Cluster).isCluster ? { ...args, pub: 'SPUBLISH' } : args);
}
