import { describe } from './describe.js';
import { InvalidOptionError } from './errors.js';

/** Redis keys of one queue. They share the `{queue}` hash tag, so every script runs on Redis Cluster. */
export interface QueueKeys {
  /** LIST of job records waiting to run, oldest first. */
  readonly ready: string;
  /** ZSET of job records scored by due time (ms, Redis clock). */
  readonly delayed: string;
  /** ZSET of claim tokens scored by lease deadline. */
  readonly lease: string;
  /**
   * HASH of claims: token -> the claimed records joined by RS, `token#n` -> how many are unsettled,
   * `token#d` -> positions settled one by one; `#active` -> unsettled jobs over all claims.
   */
  readonly claims: string;
  /** HASH id -> dead-letter entry (JSON: record, error, failedAt). */
  readonly dead: string;
  /** ZSET of dead job ids scored by the time they died. */
  readonly deadIndex: string;
  /** SET of caller-chosen job ids taken: in the queue, or completed within the retention window. */
  readonly ids: string;
  /** ZSET of caller-chosen ids of completed jobs, scored by when they are free again. */
  readonly retainedIds: string;
  /** STRING counter of generated job ids. */
  readonly seq: string;
  /** STRING counter of claims (part of the fencing tokens). */
  readonly claimCounter: string;
  /** LIST holding one element while idle workers should look again. */
  readonly wake: string;
}

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

export function queueKeys(prefix: string, queue: string): QueueKeys {
  const base = `${prefix}:{${queue}}:`;
  return {
    ready: `${base}ready`,
    delayed: `${base}delayed`,
    lease: `${base}lease`,
    claims: `${base}claims`,
    dead: `${base}dead`,
    deadIndex: `${base}dead-index`,
    ids: `${base}ids`,
    retainedIds: `${base}retained-ids`,
    seq: `${base}seq`,
    claimCounter: `${base}claim-counter`,
    wake: `${base}wake`,
  };
}
