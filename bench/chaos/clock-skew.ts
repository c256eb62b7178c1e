// Imported first by the worker process: when CHAOS_SKEW_MS is set, this process's wall clock runs that
// many ms off (Date.now and new Date()), as on a machine whose clock drifted. The queue takes lease and
// due times from Redis TIME, so this must change nothing about when jobs run.
const skew = Number(process.env.CHAOS_SKEW_MS ?? 0);

if (skew !== 0) {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  class SkewedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(realNow() + skew);
      else super(...(args as [string | number | Date]));
    }

    static override now(): number {
      return realNow() + skew;
    }
  }
  globalThis.Date = SkewedDate as DateConstructor;
}

export const clockSkewMs = skew;
