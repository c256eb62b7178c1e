/** Every kind of fault the harness can inject (`--faults=` takes a comma list of these, or `all`). */
export const FAULT_KINDS = ['sigkill', 'sigterm', 'redis', 'clientkill', 'pause', 'reset', 'blackhole', 'halfopen', 'memory', 'skew', 'qpause'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface ChaosOptions {
  quick: boolean;
  seed: number;
  faults: Set<FaultKind>;
  aof: boolean;
  /** Keep the AOF in the run directory rather than on tmpfs (see aof.ts). */
  aofOnDisk: boolean;
  workers: number;
  concurrency: number;
  leaseMs: number;
  /** Seconds of fault injection. */
  duration: number;
  /** Jobs enqueued per second. */
  rate: number;
  /** Jobs enqueued per second to the rules queue (chaos-rules). */
  rulesRate: number;
  /** ms a SIGTERMed worker gets to finish running jobs (its shutdownTimeout). */
  shutdownMs: number;
  /** ms a completed job's caller-chosen id stays taken (the workers' jobIdRetention). */
  idRetentionMs: number;
  /** Where journals go (default: .chaos/<time>-seed<seed>). */
  dir?: string;
}

export const USAGE = `npm run chaos -- [options]
  --quick              about 2 minutes (CI); the default run takes about 6
  --seed=N             seed of every fault and job decision (default: random, printed)
  --faults=LIST        all (default), or a comma list of: ${FAULT_KINDS.join(', ')}
  --no-aof             Redis without persistence: Redis kills lose jobs (proves the checker can fail)
  --aof-on-disk        keep the AOF on disk, not tmpfs: a slow fsync then opens Redis's everysec window,
                       where a kill -9 loses writes Redis acknowledged (see bench/chaos/aof.ts)
  --workers=N          worker processes (default 4)
  --concurrency=N      jobs each worker runs at once (default 8)
  --lease=MS           lease duration (default 1500)
  --duration=S         seconds of faults (default 300, quick 70)
  --rate=N             jobs enqueued per second (default 80, quick 60)
  --rules-rate=N       jobs enqueued per second to the rules queue chaos-rules (default 20, quick 15)
  --dir=PATH           where to write journals`;

export function parseOptions(argv: string[]): ChaosOptions {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"\n${USAGE}`);
    const eq = arg.indexOf('=');
    if (eq > 0) flags.set(arg.slice(2, eq), arg.slice(eq + 1));
    else if (['--seed', '--faults', '--workers', '--concurrency', '--lease', '--duration', '--rate', '--rules-rate', '--dir'].includes(arg)) {
      if (argv[i + 1] === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      flags.set(arg.slice(2), argv[++i]);
    } else flags.set(arg.slice(2), 'true');
  }
  const known = new Set(['quick', 'seed', 'faults', 'no-aof', 'aof-on-disk', 'workers', 'concurrency', 'lease', 'duration', 'rate', 'rules-rate', 'dir', 'help']);
  for (const key of flags.keys()) if (!known.has(key)) throw new Error(`unknown option --${key}\n${USAGE}`);
  if (flags.has('help')) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = flags.has('quick');
  const int = (key: string, fallback: number, min: number, max: number): number => {
    const raw = flags.get(key);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${key} must be an integer from ${min} to ${max} (got "${raw}")`);
    return n;
  };
  const faultList = (flags.get('faults') ?? 'all').split(',').map((f) => f.trim()).filter(Boolean);
  const faults = new Set<FaultKind>();
  for (const f of faultList) {
    if (f === 'all') FAULT_KINDS.forEach((k) => faults.add(k));
    else if ((FAULT_KINDS as readonly string[]).includes(f)) faults.add(f as FaultKind);
    else throw new Error(`--faults: unknown fault "${f}" (known: all, ${FAULT_KINDS.join(', ')})`);
  }
  const leaseMs = int('lease', 1500, 300, 60_000);
  return {
    quick,
    seed: int('seed', Math.floor(Math.random() * 1_000_000), 0, 2 ** 31 - 1),
    faults,
    aof: !flags.has('no-aof'),
    aofOnDisk: flags.has('aof-on-disk'),
    workers: int('workers', 4, 1, 16),
    concurrency: int('concurrency', 8, 1, 256),
    leaseMs,
    duration: int('duration', quick ? 70 : 300, 5, 3600),
    rate: int('rate', quick ? 60 : 80, 1, 5000),
    rulesRate: int('rules-rate', quick ? 15 : 20, 0, 1000),
    shutdownMs: 3000,
    // Longer than any run: a retried enqueue of a job that completed must be refused, never run again.
    idRetentionMs: 3_600_000,
    dir: flags.get('dir'),
  };
}

/** The command line that replays a run: its seed, faults and every setting that differs from the default. */
export function rerunFlags(o: ChaosOptions): string[] {
  const flags = [o.quick ? '--quick' : '', `--seed=${o.seed}`];
  flags.push(o.faults.size === FAULT_KINDS.length ? '' : `--faults=${[...o.faults].join(',')}`, o.aof ? '' : '--no-aof', o.aofOnDisk ? '--aof-on-disk' : '');
  const defaults = { workers: 4, concurrency: 8, lease: 1500, duration: o.quick ? 70 : 300, rate: o.quick ? 60 : 80, 'rules-rate': o.quick ? 15 : 20 };
  const actual = { workers: o.workers, concurrency: o.concurrency, lease: o.leaseMs, duration: o.duration, rate: o.rate, 'rules-rate': o.rulesRate };
  for (const key of Object.keys(defaults) as (keyof typeof defaults)[]) {
    if (actual[key] !== defaults[key]) flags.push(`--${key}=${actual[key]}`);
  }
  return flags.filter(Boolean);
}
