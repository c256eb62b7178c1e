import { describe } from './describe.js';
import { InvalidOptionError } from './errors.js';

/**
 * Every key of one queue, in the order scripts receive them as KEYS. This table is the one place the
 * key layout is written down: `queueKeys()` builds the names from it, scripts.ts derives each script's
 * `numberOfKeys` and the Lua table `K` (K.ready, K.delayed, ...) from it. All keys share the `{queue}`
 * hash tag, so every script runs on Redis Cluster. docs/data-model.md describes what each one holds.
 */
export const QUEUE_KEY_TABLE = [
  /** LIST of ready records at the default priority, oldest first (also what 0.1 workers read). */
  ['ready', 'ready'],
  /** LISTs of ready records of priorities 1 (runs first) to 10 (last). */
  ['ready1', 'ready:1'],
  ['ready2', 'ready:2'],
  ['ready3', 'ready:3'],
  ['ready4', 'ready:4'],
  ['ready5', 'ready:5'],
  ['ready6', 'ready:6'],
  ['ready7', 'ready:7'],
  ['ready8', 'ready:8'],
  ['ready9', 'ready:9'],
  ['ready10', 'ready:10'],
  /** ZSET of the priority levels whose list is not empty, scored by level. */
  ['levels', 'levels'],
  /** LIST of records whose claim expired; each is claimed alone. */
  ['recovered', 'recovered'],
  /** ZSET of delayed records by due time (ms, Redis clock); the fraction orders equal due times FIFO. */
  ['delayed', 'delayed'],
  /** ZSET of 0.1 claim tokens by lease deadline: recovered, never written. */
  ['lease', 'lease'],
  /** ZSET of claim tokens by lease deadline. */
  ['deadlines', 'deadlines'],
  /** HASH of claims (see docs/data-model.md) and `#active`, the unsettled jobs over all claims. */
  ['claims', 'claims'],
  /** HASH id -> dead-letter entry (JSON: id, record, error, failedAt). */
  ['dead', 'dead'],
  /** ZSET of dead job ids by the time they died. */
  ['deadIndex', 'dead-index'],
  /** SET of caller-chosen ids taken: in the queue, or completed within the retention window. */
  ['ids', 'ids'],
  /** ZSET of caller-chosen ids of completed jobs, by when they are free again. */
  ['retainedIds', 'retained-ids'],
  /** STRING counter of generated job ids. */
  ['seq', 'seq'],
  /** STRING counter of claims (part of the fencing tokens). */
  ['claimCounter', 'claim-counter'],
  /** LIST holding one element while idle 0.1 workers should look again. */
  ['wake', 'wake'],
  /** HASH of queue-wide state every worker obeys: paused, limits, listeners, counters. */
  ['meta', 'meta'],
  /** HASH id -> state entry of tracked jobs. */
  ['track', 'track'],
  /** ZSET of finished tracked jobs by when their entry expires. */
  ['trackExpiry', 'track-expiry'],
  /** HASH id -> time of tracked jobs cancelled while ready (dropped when claimed). */
  ['cancelled', 'cancelled'],
  /** STREAM of lifecycle events (bounded). */
  ['events', 'events'],
  /** HASH of per-minute counters (completed, failed, dead) for charts and `rq status`. */
  ['stats', 'stats'],
  /** LIST of recent start times under the queue's rate limit (Redis clock, ms), oldest first. */
  ['rate', 'rate'],
  /** LIST of groups in the round robin (groups with claimable jobs). */
  ['groups', 'groups'],
  /** ZSET (all scores 0) of grouped records: member = group NUL sequence record, so lexical = FIFO per group. */
  ['groupJobs', 'group-jobs'],
  /** HASH per group: `w:<group>` jobs waiting, `a:<group>` jobs claimed, `r:<group>` recent starts. */
  ['groupState', 'group-state'],
  /** ZSET of groups held back by their rate limit, by when they may start again. */
  ['groupsParked', 'groups-parked'],
  /** ZSET of groups with a rate window (`r:<group>`), by their last start: windows past use are dropped. */
  ['groupWindows', 'group-windows'],
  /** HASH name -> schedule (JSON). */
  ['schedules', 'schedules'],
  /** HASH debounce key -> the job it collapses into. */
  ['debounce', 'debounce'],
] as const;

export type QueueKeyName = (typeof QUEUE_KEY_TABLE)[number][0];

/** Redis keys of one queue, by name (see QUEUE_KEY_TABLE). */
export type QueueKeys = { readonly [K in QueueKeyName]: string };

/** Priority levels accepted by the `priority` option: 1 runs first, 10 last; none sits between 5 and 6. */
export const PRIORITY_LEVELS = 10;

const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;
const PREFIX = /^[A-Za-z0-9._:-]{1,64}$/;

export function assertQueueName(queue: unknown): asserts queue is string {
  if (typeof queue !== 'string' || !QUEUE_NAME.test(queue)) {
    throw new InvalidOptionError(
      'queue',
      `must be 1-100 characters of letters, digits, ".", "_", ":" or "-", starting with a letter or digit (got ${describe(queue)})`,
    );
  }
}

export function assertPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new InvalidOptionError(
      'prefix',
      `must be 1-64 characters of letters, digits, ".", "_", ":" or "-" (got ${describe(prefix)})`,
    );
  }
}

/** The `{queue}` part every key of the queue shares, e.g. `rq:{email}:`. */
export function queueBase(prefix: string, queue: string): string {
  return `${prefix}:{${queue}}:`;
}

export function queueKeys(prefix: string, queue: string): QueueKeys {
  const base = queueBase(prefix, queue);
  const keys: Record<string, string> = {};
  for (const [name, suffix] of QUEUE_KEY_TABLE) keys[name] = base + suffix;
  return keys as QueueKeys;
}

/** The queue's keys in table order: every script's KEYS. */
export function queueKeyList(prefix: string, queue: string): string[] {
  const base = queueBase(prefix, queue);
  return QUEUE_KEY_TABLE.map(([, suffix]) => base + suffix);
}

/** Pub/Sub channel of a queue's notifications (sharded on Cluster: it carries the queue's hash tag). */
export function notifyChannel(prefix: string, queue: string): string {
  return `${queueBase(prefix, queue)}notify`;
}

/**
 * Registry keys: outside every queue, used only by single-key commands. `activity`: LIST of the
 * dashboard's actions (JSON), newest first, capped.
 */
export function registryKeys(prefix: string): { queues: string; workers: string; activity: string } {
  return { queues: `${prefix}:queues`, workers: `${prefix}:workers`, activity: `${prefix}:activity` };
}
