import { InvalidOptionError } from './errors.js';
import { describe } from './describe.js';

/** How long to wait before the next attempt of a failed job. */
export interface BackoffOptions {
  /** `fixed`: always `delay`; `exponential`: `delay * 2^(attempt - 1)`. */
  type: 'fixed' | 'exponential';
  /** Base delay in ms. */
  delay: number;
  /** Upper bound of any single delay in ms. Default: 1 hour. */
  maxDelay?: number;
  /**
   * Fraction of each delay that is randomized away (0..1), so that jobs failing together do not retry
   * together. Default: 0.2 (a delay of 1000 ms becomes 800-1000 ms).
   */
  jitter?: number;
}

export const DEFAULT_MAX_BACKOFF = 3_600_000;
export const DEFAULT_JITTER = 0.2;
const MAX_DELAY = 365 * 24 * 3_600_000;

/** Delay in ms before retrying after `attempt` (1-based) failed. */
export function backoffDelay(options: BackoffOptions, attempt: number, random: () => number = Math.random): number {
  const cap = options.maxDelay ?? DEFAULT_MAX_BACKOFF;
  const base =
    options.type === 'fixed' ? options.delay : options.delay * Math.pow(2, Math.min(Math.max(attempt - 1, 0), 60));
  const capped = Math.min(base, cap);
  const jitter = options.jitter ?? DEFAULT_JITTER;
  return Math.max(0, Math.round(capped * (1 - jitter * random())));
}

/** Validates backoff options; `field` names the option in the error. */
export function parseBackoff(value: unknown, field: string): BackoffOptions {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(field, `must be an object like { type: 'exponential', delay: 1000 } (got ${describe(value)})`);
  }
  const { type, delay, maxDelay, jitter, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw new InvalidOptionError(`${field}.${unknown[0]}`, 'is not a backoff option (known: type, delay, maxDelay, jitter)');
  }
  if (type !== 'fixed' && type !== 'exponential') {
    throw new InvalidOptionError(`${field}.type`, `must be 'fixed' or 'exponential' (got ${describe(type)})`);
  }
  const ms = (v: unknown, name: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_DELAY) {
      throw new InvalidOptionError(`${field}.${name}`, `must be a number of ms from 0 to ${MAX_DELAY} (got ${describe(v)})`);
    }
    return v;
  };
  const parsed: BackoffOptions = { type, delay: ms(delay, 'delay') };
  if (maxDelay !== undefined) parsed.maxDelay = ms(maxDelay, 'maxDelay');
  if (jitter !== undefined) {
    if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) {
      throw new InvalidOptionError(`${field}.jitter`, `must be a number from 0 to 1 (got ${describe(jitter)})`);
    }
    parsed.jitter = jitter;
  }
  return parsed;
}
