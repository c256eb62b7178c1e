import type { Redis } from 'ioredis';
import { queueKeys } from '../../libs/redis-queue/src/engine/index.js';
import { PREFIX, QUEUE } from './jobs.js';

/**
 * Where each job is, read in one MULTI (one consistent instant: every state change is one script).
 * The data model (libs/redis-queue/src/engine/lua/_common.lua): waiting jobs are records in the ready
 * list or the delayed set; claimed jobs sit in the claims hash, per claim token: the records joined by RS
 * (`token`), how many are unsettled (`token#n`) and the positions settled one by one (`token#d`), with
 * `#active` counting unsettled jobs over all claims; each claim holds one lease (its token in the lease
 * set); dead jobs are in the dead hash; caller-chosen ids present anywhere are in `ids`, and so are those
 * of jobs completed within the id retention window (`jobIdRetention`), which the `retained-ids` sorted
 * set lists, scored by when they are free again.
 */
export interface QueueSnapshot {
  at: number;
  ready: string[];
  delayed: string[];
  /** Claimed, unsettled job id -> the token of the claim that holds it. */
  active: Map<string, string>;
  /** Claim tokens with a lease. */
  leases: string[];
  /** Claim token -> { ids at its unsettled positions, how many it says are unsettled }. */
  batches: Map<string, { ids: string[]; open: number }>;
  /** The `#active` counter. */
  activeCounter: number;
  dead: string[];
  ids: string[];
  /** Ids of completed jobs still taken (retention window) -> when they are free again (Redis clock, ms). */
  retained: Map<string, number>;
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
}

const SEP = '\x1f';
const RS = '\x1e';
const beforeSep = (s: string): string => s.slice(0, Math.max(0, s.indexOf(SEP)));

export async function snapshot(client: Redis): Promise<QueueSnapshot> {
  const k = queueKeys(PREFIX, QUEUE);
  const replies = await client
    .multi()
    .lrange(k.ready, 0, -1)
    .zrange(k.delayed, 0, -1)
    .hgetall(k.claims)
    .zrange(k.lease, 0, -1)
    .hkeys(k.dead)
    .smembers(k.ids)
    .zrange(k.retainedIds, 0, -1, 'WITHSCORES')
    .exec();
  if (!replies) throw new Error('snapshot: transaction aborted');
  const values = replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
  const [ready, delayed, claims, leases, dead, ids, retainedFlat] = values as [
    string[],
    string[],
    Record<string, string>,
    string[],
    string[],
    string[],
    string[],
  ];
  const retained = new Map<string, number>();
  for (let i = 0; i + 1 < retainedFlat.length; i += 2) retained.set(retainedFlat[i], Number(retainedFlat[i + 1]));
  const batches = new Map<string, { ids: string[]; open: number }>();
  const active = new Map<string, string>();
  for (const [token, blob] of Object.entries(claims)) {
    if (token.includes('#')) continue;
    const settled = new Set((claims[`${token}#d`] ?? '').split(',').filter(Boolean).map(Number));
    const unsettled = blob
      .split(RS)
      .map((record, i) => ({ id: beforeSep(record), position: i + 1 }))
      .filter((r) => !settled.has(r.position))
      .map((r) => r.id);
    for (const id of unsettled) active.set(id, token);
    batches.set(token, { ids: unsettled, open: Number(claims[`${token}#n`] ?? 0) });
  }
  return {
    at: Date.now(),
    ready: ready.map(beforeSep),
    delayed: delayed.map(beforeSep),
    active,
    leases,
    batches,
    activeCounter: Number(claims['#active'] ?? 0),
    dead,
    ids,
    retained,
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
  for (const list of [s.ready, s.delayed, [...s.active.keys()], s.dead]) {
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
  };
}

export function countViolations(v: SnapshotViolations): number {
  return Object.values(v).reduce((sum, list: string[]) => sum + list.length, 0);
}

/** Jobs still queued or in flight. */
export function leftovers(s: QueueSnapshot): string[] {
  return [...s.ready, ...s.delayed, ...s.active.keys()];
}
