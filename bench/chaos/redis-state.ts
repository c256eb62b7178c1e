import type { Redis } from 'ioredis';
import { RS, recordId } from '../../libs/redis-queue/src/engine/codec.js';
import { PRIORITY_LEVELS, QueueKeyName, queueKeys } from '../../libs/redis-queue/src/engine/keys.js';
import { PREFIX, QUEUE } from './jobs.js';

/**
 * Where each job is, read in one MULTI (one consistent instant: every state change is one script).
 * The data model is docs/data-model.md (the key table is engine/keys.ts, records are parsed with
 * engine/codec.ts): waiting jobs are records in a ready list (one per priority level), in `recovered`,
 * in `group-jobs` or in the delayed set; claimed jobs sit in the claims hash, per claim token: the records
 * joined by RS (`token`), how many are unsettled (`token#n`) and the positions settled one by one
 * (`token#d`), with `#active` counting unsettled jobs over all claims; each claim holds one lease (its
 * token in `deadlines`, or in `lease` for a 0.1 claim); dead jobs are in the dead hash; caller-chosen ids
 * present anywhere are in `ids`, and so are those of jobs completed within the id retention window
 * (`jobIdRetention`), which the `retained-ids` sorted set lists, scored by when they are free again;
 * tracked jobs have an entry in `track` naming their state.
 */
export interface QueueSnapshot {
  at: number;
  /** Ids in the ready lists (every priority level), oldest first per list. */
  ready: string[];
  /** Ids in `recovered` (records of expired claims, each claimed alone). */
  recovered: string[];
  /** Ids in `group-jobs` (ready records of a group). */
  grouped: string[];
  delayed: string[];
  /** Claimed, unsettled job id -> the token of the claim that holds it. */
  active: Map<string, string>;
  /** Claim tokens with a lease: a 0.2 deadline (`deadlines`) or a 0.1 lease (`lease`). */
  leases: string[];
  /** Claim token -> { ids at its unsettled positions, how many it says are unsettled }. */
  batches: Map<string, { ids: string[]; open: number }>;
  /** The `#active` counter. */
  activeCounter: number;
  dead: string[];
  ids: string[];
  /** Ids of completed jobs still taken (retention window) -> when they are free again (Redis clock, ms). */
  retained: Map<string, number>;
  /** Tracked jobs: id -> the state their entry names (`ready`, `delayed`, `active`, `completed`, ...). */
  tracked: Map<string, string>;
  /**
   * Ids of records still in a ready list, `recovered` or `group-jobs` whose job was cancelled while ready
   * (the `cancelled` mark holds that very record): dropped by the next claim that reaches them, they are
   * no job any more (their id is free), so they are left out of the lists above.
   */
  cancelledWaiting: string[];
}
/** What must hold in every snapshot; each list names offending job ids (or tokens). */
export interface SnapshotViolations {
  /** Active, but its claim has no lease: no worker renews it and recovery never finds it (stuck forever). */
  leaseless: string[];
  /**
   * Claims whose unsettled count disagrees with their unsettled positions: the claim (and its lease)
   * would go while jobs are in flight, or never go.
   */
  unrecoverable: string[];
  /** Leases without a claim, or '#active' when that counter disagrees with the claims. */
  undercounted: string[];
  /** Ids found in more than one place (or twice in one): a job stored twice. */
  multiPlaced: string[];
  /** Ids held in a state but missing from the ids set: enqueuing them again would store a second copy. */
  missingFromIds: string[];
  /**
   * Ids in the ids set but in no state and not retained after completing: enqueuing them again would
   * store nothing (silently dropped).
   */
  staleIds: string[];
  /**
   * Ids retained as completed yet stored in a state: when the retention ends, the id is freed while its
   * job is still there, and an enqueue would store a second copy.
   */
  retainedPlaced: string[];
  /** Ids retained as completed but missing from the ids set: a retried enqueue would run the job again. */
  retainedFree: string[];
  /** Tracked jobs whose entry names a state the job is not in (the inspector would report it wrongly). */
  trackedAstray: string[];
}


/** A snapshot of one queue's keys (default: the main queue `chaos`). */
export async function snapshot(client: Redis, queue: string = QUEUE): Promise<QueueSnapshot> {
  const k = queueKeys(PREFIX, queue);
  const levels = [k.ready, ...Array.from({ length: PRIORITY_LEVELS }, (_, i) => k[`ready${i + 1}` as QueueKeyName])];
  const multi = client.multi();
  for (const list of levels) multi.lrange(list, 0, -1);
  multi
    .lrange(k.recovered, 0, -1)
    .zrange(k.groupJobs, 0, -1)
    .zrange(k.delayed, 0, -1)
    .hgetall(k.claims)
    .zrange(k.lease, 0, -1)
    .zrange(k.deadlines, 0, -1)
    .hkeys(k.dead)
    .smembers(k.ids)
    .zrange(k.retainedIds, 0, -1, 'WITHSCORES')
    .hgetall(k.track)
    .hgetall(k.cancelled);
  const replies = await multi.exec();
  if (!replies) throw new Error('snapshot: transaction aborted');
  const values = replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
  const readyLists = values.slice(0, levels.length) as string[][];
  const [recovered, grouped, delayed, claims, oldLeases, deadlines, dead, ids, retainedFlat, track, marks] = values.slice(levels.length) as [
    string[],
    string[],
    string[],
    Record<string, string>,
    string[],
    string[],
    string[],
    string[],
    string[],
    Record<string, string>,
    Record<string, string>,
  ];
  // A record cancelled while ready stays where it was until a claim reaches it and drops it.
  const cancelledWaiting: string[] = [];
  const live = (record: string): boolean => {
    const id = recordId(record);
    if (marks[id] !== record) return true;
    cancelledWaiting.push(id);
    return false;
  };
  // group-jobs member = group NUL ['!'] 16 hex digits of sequence, then the record
  const groupedRecords = grouped.map((member) => member.slice(member.indexOf('\0') + 1).replace(/^!?[0-9a-f]{16}/, ''));
  const retained = new Map<string, number>();
  for (let i = 0; i + 1 < retainedFlat.length; i += 2) retained.set(retainedFlat[i], Number(retainedFlat[i + 1]));
  const batches = new Map<string, { ids: string[]; open: number }>();
  const active = new Map<string, string>();
  for (const [token, blob] of Object.entries(claims)) {
    if (token.includes('#')) continue;
    const settled = new Set((claims[`${token}#d`] ?? '').split(',').filter(Boolean).map(Number));
    const unsettled = blob
      .split(RS)
      .map((record, i) => ({ id: recordId(record), position: i + 1 }))
      .filter((r) => !settled.has(r.position))
      .map((r) => r.id);
    for (const id of unsettled) active.set(id, token);
    batches.set(token, { ids: unsettled, open: Number(claims[`${token}#n`] ?? 0) });
  }
  const tracked = new Map<string, string>();
  for (const [id, entry] of Object.entries(track)) {
    try {
      tracked.set(id, String((JSON.parse(entry) as { s?: unknown }).s));
    } catch {
      tracked.set(id, 'unreadable');
    }
  }
  return {
    at: Date.now(),
    ready: readyLists.flat().filter(live).map(recordId),
    recovered: recovered.filter(live).map(recordId),
    grouped: groupedRecords.filter(live).map(recordId),
    delayed: delayed.map(recordId),
    active,
    leases: [...deadlines, ...oldLeases],
    batches,
    activeCounter: Number(claims['#active'] ?? 0),
    dead,
    ids,
    retained,
    tracked,
    cancelledWaiting,
  };
}

export function violations(s: QueueSnapshot): SnapshotViolations {
  const leased = new Set(s.leases);
  const leaseless: string[] = [];
  for (const [id, token] of s.active) if (!leased.has(token)) leaseless.push(id);
  const unrecoverable = [...s.batches].filter(([, b]) => b.open !== b.ids.length).map(([token]) => token);
  const undercounted = s.leases.filter((token) => !s.batches.has(token));
  const open = [...s.batches.values()].reduce((n, b) => n + b.open, 0);
  if (open !== s.activeCounter) undercounted.push('#active');
  const places = new Map<string, number>();
  const waiting = new Set([...s.ready, ...s.recovered, ...s.grouped]);
  for (const list of [s.ready, s.recovered, s.grouped, s.delayed, [...s.active.keys()], s.dead]) {
    for (const id of list) places.set(id, (places.get(id) ?? 0) + 1);
  }
  const idSet = new Set(s.ids);
  const custom = (id: string) => !/^\d+$/.test(id);
  return {
    leaseless,
    unrecoverable,
    undercounted,
    multiPlaced: [...places].filter(([, n]) => n > 1).map(([id]) => id),
    missingFromIds: [...places.keys()].filter((id) => custom(id) && !idSet.has(id)),
    staleIds: s.ids.filter((id) => !places.has(id) && !s.retained.has(id)),
    retainedPlaced: [...s.retained.keys()].filter((id) => places.has(id)),
    retainedFree: [...s.retained.keys()].filter((id) => !idSet.has(id)),
    trackedAstray: [...s.tracked].filter(([id, state]) => !trackedWhere(state, id, s, waiting)).map(([id]) => id),
  };
}

/** Whether a tracked job's entry agrees with where the job is. */
function trackedWhere(state: string, id: string, s: QueueSnapshot, waiting: Set<string>): boolean {
  const delayed = s.delayed.includes(id);
  const active = s.active.has(id);
  const dead = s.dead.includes(id);
  switch (state) {
    case 'ready':
      return waiting.has(id) && !delayed && !active && !dead;
    case 'delayed':
      return delayed;
    case 'active':
    case 'cancelling':
      return active;
    case 'dead':
      return dead;
    case 'completed':
      return !waiting.has(id) && !delayed && !active && !dead;
    case 'cancelled':
      // A job cancelled while ready keeps its record in the ready list until a claim drops it.
      return !delayed && !active && !dead;
    default:
      return false;
  }
}

export function countViolations(v: SnapshotViolations): number {
  return Object.values(v).reduce((sum, list: string[]) => sum + list.length, 0);
}

/** Jobs still queued or in flight. */
export function leftovers(s: QueueSnapshot): string[] {
  return [...s.ready, ...s.recovered, ...s.grouped, ...s.delayed, ...s.active.keys()];
}
