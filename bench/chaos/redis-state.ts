import type { Redis } from 'ioredis';
import { queueKeys } from '../../libs/redis-queue/src/engine/index.js';
import { PREFIX, QUEUE } from './jobs.js';

/**
 * Where each job is, read in one MULTI (one consistent instant: every state change is one script).
 * The data model (libs/redis-queue/src/engine/lua/_common.lua): waiting jobs are records in the ready
 * list or the delayed set; a claimed job is `id -> token SEP record` in the active hash; each claim
 * (token) holds one lease in the lease set and a batch entry (`token` -> its ids, `token#n` -> how many
 * are still unsettled); dead jobs are in the dead hash; caller-chosen ids present anywhere are in `ids`,
 * and so are those of jobs completed within the id retention window (`jobIdRetention`), which the
 * `retained-ids` sorted set lists, scored by when they are free again.
 */
export interface QueueSnapshot {
  at: number;
  ready: string[];
  delayed: string[];
  /** Active job id -> the token of the claim that holds it. */
  active: Map<string, string>;
  /** Claim tokens with a lease. */
  leases: string[];
  /** Claim token -> { ids it claimed, how many it says are unsettled }. */
  batches: Map<string, { ids: string[]; open: number }>;
  dead: string[];
  ids: string[];
  /** Ids of completed jobs still taken (retention window) -> when they are free again (Redis clock, ms). */
  retained: Map<string, number>;
}

/** What must hold in every snapshot; each list names offending job ids (or tokens). */
export interface SnapshotViolations {
  /** Active, but its claim has no lease: no worker renews it and recovery never finds it (stuck forever). */
  leaseless: string[];
  /** Active, but its claim's batch does not list it: recovery of the claim would leave it behind. */
  unrecoverable: string[];
  /** Claims with more active jobs than their unsettled count: the lease would go while jobs are in flight. */
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
}

const SEP = '\x1f';
const beforeSep = (s: string): string => s.slice(0, Math.max(0, s.indexOf(SEP)));

export async function snapshot(client: Redis): Promise<QueueSnapshot> {
  const k = queueKeys(PREFIX, QUEUE);
  const replies = await client
    .multi()
    .lrange(k.ready, 0, -1)
    .zrange(k.delayed, 0, -1)
    .hgetall(k.active)
    .zrange(k.lease, 0, -1)
    .hgetall(k.batches)
    .hkeys(k.dead)
    .smembers(k.ids)
    .zrange(k.retainedIds, 0, -1, 'WITHSCORES')
    .exec();
  if (!replies) throw new Error('snapshot: transaction aborted');
  const values = replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
  const [ready, delayed, active, leases, batches, dead, ids, retainedFlat] = values as [
    string[],
    string[],
    Record<string, string>,
    string[],
    Record<string, string>,
    string[],
    string[],
    string[],
  ];
  const retained = new Map<string, number>();
  for (let i = 0; i + 1 < retainedFlat.length; i += 2) retained.set(retainedFlat[i], Number(retainedFlat[i + 1]));
  const batchMap = new Map<string, { ids: string[]; open: number }>();
  for (const [field, value] of Object.entries(batches)) {
    if (field.endsWith('#n')) continue;
    batchMap.set(field, { ids: value.split(SEP), open: Number(batches[`${field}#n`] ?? 0) });
  }
  return {
    at: Date.now(),
    ready: ready.map(beforeSep),
    delayed: delayed.map(beforeSep),
    active: new Map(Object.entries(active).map(([id, value]) => [id, beforeSep(value)])),
    leases,
    batches: batchMap,
    dead,
    ids,
    retained,
  };
}

export function violations(s: QueueSnapshot): SnapshotViolations {
  const leased = new Set(s.leases);
  const perToken = new Map<string, number>();
  const leaseless: string[] = [];
  const unrecoverable: string[] = [];
  for (const [id, token] of s.active) {
    perToken.set(token, (perToken.get(token) ?? 0) + 1);
    if (!leased.has(token)) leaseless.push(id);
    if (!s.batches.get(token)?.ids.includes(id)) unrecoverable.push(id);
  }
  const places = new Map<string, number>();
  for (const list of [s.ready, s.delayed, [...s.active.keys()], s.dead]) {
    for (const id of list) places.set(id, (places.get(id) ?? 0) + 1);
  }
  const idSet = new Set(s.ids);
  const custom = (id: string) => !/^\d+$/.test(id);
  return {
    leaseless,
    unrecoverable,
    undercounted: [...perToken].filter(([token, n]) => n > (s.batches.get(token)?.open ?? 0)).map(([token]) => token),
    multiPlaced: [...places].filter(([, n]) => n > 1).map(([id]) => id),
    missingFromIds: [...places.keys()].filter((id) => custom(id) && !idSet.has(id)),
    staleIds: s.ids.filter((id) => !places.has(id) && !s.retained.has(id)),
    retainedPlaced: [...s.retained.keys()].filter((id) => places.has(id)),
    retainedFree: [...s.retained.keys()].filter((id) => !idSet.has(id)),
  };
}

export function countViolations(v: SnapshotViolations): number {
  return Object.values(v).reduce((sum, list: string[]) => sum + list.length, 0);
}

/** Jobs still queued or in flight. */
export function leftovers(s: QueueSnapshot): string[] {
  return [...s.ready, ...s.delayed, ...s.active.keys()];
}
