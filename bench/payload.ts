import { IsEmail, IsIn, IsInt, IsNumber, IsOptional, Min } from 'class-validator';
import * as v from 'valibot';

/**
 * The job every library carries: a small welcome e-mail, like PRODUCT.md's `WelcomeEmail` (67 bytes of
 * JSON). Timing fields are added only by the runs that need them, so they do not weigh on the others.
 */
export interface EmailJob {
  to: string;
  template: string;
  userId: number;
  /** Sent at, ms on the monotonic clock shared by every process of the machine (latency run). */
  t?: number;
  /** Due at, ms since the epoch (delayed run). */
  d?: number;
  /** 1 for warm-up jobs that the latency run does not count. */
  w?: number;
}

export function emailJob(i: number, timing?: { t?: number; d?: number; w?: number }): EmailJob {
  const userId = 100000 + (i % 900000);
  return { to: `user${userId}@example.com`, template: 'welcome', userId, ...timing };
}

/** The same job as a class with class-validator rules, for the "validation on" figures. */
export class WelcomeEmail implements EmailJob {
  @IsEmail()
  to!: string;

  @IsIn(['welcome', 'reminder'])
  template!: string;

  @IsInt()
  @Min(1)
  userId!: number;

  @IsOptional()
  @IsNumber()
  t?: number;

  @IsOptional()
  @IsNumber()
  d?: number;

  @IsOptional()
  @IsInt()
  w?: number;

  static from(job: EmailJob): WelcomeEmail {
    return Object.assign(new WelcomeEmail(), job);
  }
}

/** The same rules as a valibot schema (a Standard Schema validator), for the "validation with valibot" figures. */
export const welcomeEmailSchema = v.object({
  to: v.pipe(v.string(), v.email()),
  template: v.picklist(['welcome', 'reminder']),
  userId: v.pipe(v.number(), v.integer(), v.minValue(1)),
  t: v.optional(v.number()),
  d: v.optional(v.number()),
  w: v.optional(v.pipe(v.number(), v.integer())),
});

/** Milliseconds on CLOCK_MONOTONIC: one clock for every process of the machine (Linux), sub-ms precise. */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
