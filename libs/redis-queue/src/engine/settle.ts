import { Claim, Delivery } from './delivery.js';

/** A job the worker settles by its claim and position (it may have no Delivery: never started). */
export interface Position {
  readonly claim: Claim;
  readonly position: number;
}

/** Outcomes waiting for the worker's next round trip. */
export interface PendingSettles {
  /** Succeeded; `result` is the handler's return value as JSON, kept for tracked jobs. */
  acks: Array<{ delivery: Delivery; result?: string }>;
  /** Failed and retried after `delay` ms; `defer`: throttled, put back without counting an attempt. */
  retries: Array<{ delivery: Delivery; delay: number; error: string; defer?: boolean }>;
  /** Dead-lettered; `made` attempts recorded (-1: leave the record's count). */
  deads: Array<Position & { id?: string; made: number; error: string }>;
  /** Stopped because the job was cancelled: removed, not retried. */
  cancels: Delivery[];
  /** The latest progress value (JSON) of running jobs, by job id. */
  progress: Map<string, { delivery: Delivery; json: string }>;
}

export function emptySettles(): PendingSettles {
  return { acks: [], retries: [], deads: [], cancels: [], progress: new Map() };
}

export function settleCount(p: PendingSettles): number {
  return p.acks.length + p.retries.length + p.deads.length + p.cancels.length + p.progress.size;
}

/** An acknowledged job that needs more than its position (see claim.lua, `acks[].x`). */
interface AckDetail {
  p: number;
  id: string;
  c?: true;
  k?: number;
  r?: string;
  a?: number;
}

/** The settle fields of claim.lua's argument map, and the claims this round trip splits up. */
export interface EncodedSettles {
  args: {
    acks: Array<{ t: string; all?: number; p?: number[]; x?: AckDetail[] }>;
    retries: Array<{ t: string; p: number; delay: number; made: number; err: string; id: string; k?: number; defer?: true }>;
    deads: Array<{ t: string; p: number; made: number; err: string }>;
    cancels: Array<{ t: string; p: number; id: string }>;
    progress: Array<{ id: string; v: string; k?: 1 }>;
  };
  /** Claims settled by position from now on (they can no longer be acknowledged whole). */
  split: Claim[];
}

/** Generated ids are all digits; only caller-chosen ids need handling when their job completes. */
export function isCallerId(id: string): boolean {
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 48 || c > 57) return true;
  }
  return false;
}

/**
 * Encodes pending outcomes for claim.lua. Acknowledgements go grouped by claim: a claim whose every job
 * succeeded, none settled before, as one entry (O(1) in Redis); others by position. Jobs are listed by
 * id only when something must be done for them by id: a caller-chosen id to retain, a tracked entry
 * (completed events are written by the script from the claim's records).
 */
export function encodeSettles(pending: PendingSettles): EncodedSettles {
  const split = new Set<Claim>();
  const byClaim = new Map<Claim, PendingSettles['acks']>();
  for (const ack of pending.acks) {
    const group = byClaim.get(ack.delivery.claim);
    if (group) group.push(ack);
    else byClaim.set(ack.delivery.claim, [ack]);
  }
  const acks: EncodedSettles['args']['acks'] = [];
  for (const [claim, group] of byClaim) {
    const x: AckDetail[] = [];
    for (const { delivery, result } of group) {
      const caller = isCallerId(delivery.id);
      const k = delivery.trackRetention;
      if (!caller && k === undefined) continue;
      const detail: AckDetail = { p: delivery.position, id: delivery.id };
      if (caller) detail.c = true;
      if (k !== undefined) {
        detail.k = k;
        detail.a = delivery.attempt;
        if (result !== undefined) detail.r = result;
      }
      x.push(detail);
    }
    const entry: EncodedSettles['args']['acks'][number] = { t: claim.token };
    if (!claim.splitUp && !split.has(claim) && group.length === claim.size) {
      entry.all = claim.size;
    } else {
      split.add(claim);
      entry.p = group.map((a) => a.delivery.position);
    }
    if (x.length > 0) entry.x = x;
    acks.push(entry);
  }
  const retries = pending.retries.map(({ delivery: d, delay, error, defer }) => {
    split.add(d.claim);
    const r: EncodedSettles['args']['retries'][number] = { t: d.claim.token, p: d.position, delay, made: d.attempt, err: error, id: d.id };
    if (d.trackRetention !== undefined) r.k = d.trackRetention;
    if (defer) {
      r.defer = true;
      r.made = d.attempt - 1;
    }
    return r;
  });
  const deads = pending.deads.map((d) => {
    split.add(d.claim);
    return { t: d.claim.token, p: d.position, made: d.made, err: d.error };
  });
  const cancels = pending.cancels.map((d) => {
    split.add(d.claim);
    return { t: d.claim.token, p: d.position, id: d.id };
  });
  const progress = [...pending.progress.values()].map(({ delivery, json }) =>
    delivery.trackRetention !== undefined ? { id: delivery.id, v: json, k: 1 as const } : { id: delivery.id, v: json },
  );
  return { args: { acks, retries, deads, cancels, progress }, split: [...split] };
}
