import { describe, InvalidOptionError } from './engine/index.js';

/** Checks of single option values, shared by module options and handler options; errors name the field. */

export function bool(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidOptionError(field, `must be true or false (got ${describe(value)})`);
  return value;
}

export function ms(value: unknown, field: string, fallback: number, min: number, max = 24 * 3_600_000): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidOptionError(field, `must be a number of ms from ${min} to ${max} (got ${describe(value)})`);
  }
  return value;
}

export function integer(value: unknown, field: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(field, `must be an integer from ${min} to ${max} (got ${describe(value)})`);
  }
  return value;
}
