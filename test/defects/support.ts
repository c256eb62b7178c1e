// Helpers of the regression tests for issue 11 (see README.md here). They use the public Nest API, the
// testing helpers, and raw Redis commands; nothing from the engine's internals, so that the tests keep
// working across the engine's rewrite.
import { INestApplicationContext, LoggerService, Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { spawnSync } from 'child_process';
import { Redis } from 'ioredis';
import { JobContext, QueueInspector, QueueProducer, RedisQueueError, RedisQueueModule, RedisQueueModuleOptions } from 'nestjs-redis-queue';
import { RedisServer } from 'nestjs-redis-queue/testing';
import { redisUrl, sleep, uniquePrefix, waitFor } from '../support/helpers.js';

export { deferred, rawClient, redisUrl, sleep, uniquePrefix, waitFor } from '../support/helpers.js';

/** Every line the app logs, as `level message` (the stack of an error line appended). */
export class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log = (m: unknown) => void this.lines.push(`log ${String(m)}`);
  warn = (m: unknown) => void this.lines.push(`warn ${String(m)}`);
  error = (m: unknown, stack?: unknown) => void this.lines.push(`error ${String(m)}${typeof stack === 'string' && stack.includes('\n') ? ` ${stack}` : ''}`);
  debug = (m: unknown) => void this.lines.push(`debug ${String(m)}`);
  verbose = (m: unknown) => void this.lines.push(`verbose ${String(m)}`);

  /** Lines logged from index `from` on that match. */
  matching(pattern: RegExp, from = 0): string[] {
    return this.lines.slice(from).filter((line) => pattern.test(line));
  }
}

export interface TestApp {
  app: INestApplicationContext;
  producer: QueueProducer;
  inspector: QueueInspector;
  prefix: string;
  logger: CapturingLogger;
  close(): Promise<void>;
}

/**
 * A Nest application context with RedisQueueModule and the given handler providers, initialised as a
 * real app is (init starts the workers), logging into a CapturingLogger. Defaults: the run's shared
 * Redis, a fresh prefix, no startup durability check. Resolves once the inspector answers, unless
 * `waitForInspector` is false.
 */
export async function bootApp(
  providers: Provider[],
  options: Partial<RedisQueueModuleOptions> = {},
  boot: { waitForInspector?: boolean } = {},
): Promise<TestApp> {
  const prefix = options.prefix ?? uniquePrefix('defect');
  const logger = new CapturingLogger();
  const moduleRef = await Test.createTestingModule({
    imports: [RedisQueueModule.forRoot({ connection: redisUrl(), checkRedisConfig: false, ...options, prefix })],
    providers,
  })
    .setLogger(logger)
    .compile();
  const app = await moduleRef.init();
  let closed: Promise<void> | undefined;
  const inspector = app.get(QueueInspector);
  if (boot.waitForInspector ?? true) {
    // Until the inspector answers after init() (issue 11, defect 3, has its own test): the other tests
    // must not fail for it.
    await waitFor(() => inspector.counts('any').then(() => true, () => false), 10_000, 'the inspector to answer after init()');
  }
  return {
    app,
    producer: app.get(QueueProducer),
    inspector,
    prefix,
    logger,
    close: () => (closed ??= app.close()),
  };
}

/**
 * A throwaway redis-server of this test file's own, for settings and commands no other suite may see
 * (CONFIG SET, DEBUG SLEEP, INFO commandstats), with `noeviction` as the README prescribes, and DEBUG
 * allowed from loopback (Redis 7 refuses it by default; 6.2 has no such setting).
 */
export function startOwnRedis(args: string[] = []): Promise<RedisServer> {
  const debug = redisMajorVersion() >= 7 ? ['--enable-debug-command', 'local'] : [];
  return RedisServer.start({ args: ['--maxmemory-policy', 'noeviction', ...debug, ...args] });
}

/** Major version of the redis-server binary the testing helpers run. */
function redisMajorVersion(): number {
  const probe = spawnSync(process.env.REDIS_SERVER_BIN ?? 'redis-server', ['--version'], { encoding: 'utf8' });
  return Number(/v=(\d+)\./.exec(probe.stdout ?? '')?.[1] ?? 0);
}

/** Total commands the server has run so far (INFO commandstats, every command summed). */
export async function commandsRun(client: Redis): Promise<{ total: number; byCommand: Record<string, number> }> {
  const info = await client.info('commandstats');
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    byCommand[match[1]] = Number(match[2]);
    total += Number(match[2]);
  }
  return { total, byCommand };
}

/** Commands run between two `commandsRun` readings, by command, leaving out those that did not change. */
export function commandDelta(
  before: { byCommand: Record<string, number> },
  after: { byCommand: Record<string, number> },
): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [name, calls] of Object.entries(after.byCommand)) {
    const d = calls - (before.byCommand[name] ?? 0);
    if (d > 0) delta[name] = d;
  }
  return delta;
}

/** INFO memory's used_memory, in bytes. */
export async function usedMemory(client: Redis): Promise<number> {
  const info = await client.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
}

/** Names of the connections the server has open now (CLIENT LIST). */
export async function connectionNames(client: Redis): Promise<string[]> {
  const list = String(await client.client('LIST'));
  return list
    .split('\n')
    .map((line) => /\bname=(\S*)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
}

/** A JSON payload of about `bytes` bytes. */
export function payloadOf(bytes: number, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...fields, pad: 'x'.repeat(Math.max(0, bytes - 40)) };
}

/** Busy-waits `ms` on the CPU, blocking the event loop (a synchronous handler doing heavy work). */
export function blockCpu(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}


/** Fails with `what` and both numbers when `value` exceeds `max` (a bare toBeLessThanOrEqual says neither). */
export function expectAtMost(value: number, max: number, what: string): void {
  if (value > max) throw new Error(`expected at most ${max} ${what}, got ${value}`);
}

/** Fails, naming what it got, unless `error` is a RedisQueueError (optionally with a matching message). */
export function expectQueueError(error: unknown, message?: RegExp): asserts error is RedisQueueError {
  const shown = error instanceof Error ? `${error.constructor.name}: ${error.message}` : `no error (${String(error)})`;
  if (!(error instanceof RedisQueueError)) throw new Error(`expected an error extending RedisQueueError, got ${shown}`);
  if (message && !message.test(error.message)) throw new Error(`expected a RedisQueueError matching ${message}, got ${shown}`);
}

/** The rejection of `promise`, or undefined when it resolves. */
export function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

/** One handler run, as a RunLog saw it. */
export interface HandlerRun {
  id: string;
  attempt: number;
  maxAttempts: number;
  /** Its JobContext.signal was aborted while it ran; `abortReason` is the reason's name. */
  aborted: boolean;
  abortReason?: string;
  outcome?: 'done' | 'threw';
}

/**
 * What handlers did, run by run: wraps a handler body, records each start, abort and end, and notes any
 * job that ran twice at the same time in this process.
 */
export class RunLog {
  readonly runs: HandlerRun[] = [];
  /** Ids seen running twice at once in this process. */
  readonly overlaps: string[] = [];
  private readonly running = new Map<string, number>();

  async track<T>(job: JobContext, body: () => Promise<T> | T): Promise<T> {
    const run: HandlerRun = { id: job.id, attempt: job.attempt, maxAttempts: job.maxAttempts, aborted: false };
    this.runs.push(run);
    const now = (this.running.get(job.id) ?? 0) + 1;
    this.running.set(job.id, now);
    if (now > 1 && !this.overlaps.includes(job.id)) this.overlaps.push(job.id);
    job.signal.addEventListener('abort', () => {
      run.aborted = true;
      run.abortReason = (job.signal.reason as Error | undefined)?.name ?? String(job.signal.reason);
    });
    try {
      const result = await body();
      run.outcome = 'done';
      return result;
    } catch (error) {
      run.outcome = 'threw';
      throw error;
    } finally {
      this.running.set(job.id, (this.running.get(job.id) ?? 1) - 1);
    }
  }

  /** Runs of `id` that returned normally. */
  completions(id: string): HandlerRun[] {
    return this.runs.filter((r) => r.id === id && r.outcome === 'done');
  }

  /** Ids with more than one run. */
  ranMoreThanOnce(ids?: Iterable<string>): string[] {
    const wanted = ids ? new Set(ids) : undefined;
    const counts = new Map<string, number>();
    for (const r of this.runs) if (!wanted || wanted.has(r.id)) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
    return [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  }
}

/**
 * Polls `check` until it returns true, or fails after `timeoutMs` (a guard against hanging, not a
 * measurement) with `state()`, so the failure shows where things stood. A check that throws counts as
 * not yet (its last error is shown).
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  state: () => unknown = () => undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    await sleep(50);
  }
  let shown: unknown;
  try {
    shown = await state();
  } catch (error) {
    shown = `(state unreadable: ${(error as Error).message})`;
  }
  const why = lastError ? `; last check threw ${(lastError as Error).message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}; state: ${JSON.stringify(shown)}`);
}

// Reads the attempts-made field of every job record the queue holds (a record is
// `id SEP attemptsMade SEP ...`, records in a claim are joined by RS: README and docs/data-model.md),
// server-side, so that only a number comes back however large the records are.
const MAX_ATTEMPTS_LUA = `
local most = -1
local function seen(rec)
  local a = string.match(rec, '^[^\\031]*\\031(%d+)\\031')
  if a and tonumber(a) > most then most = tonumber(a) end
end
local function each(blob)
  for rec in string.gmatch(blob, '[^\\030]+') do seen(rec) end
end
for _, key in ipairs(KEYS) do
  local t = redis.call('TYPE', key).ok
  if t == 'list' then
    for _, v in ipairs(redis.call('LRANGE', key, 0, -1)) do each(v) end
  elseif t == 'zset' then
    for _, v in ipairs(redis.call('ZRANGE', key, 0, -1)) do each(v) end
  elseif t == 'hash' then
    local kv = redis.call('HGETALL', key)
    for i = 1, #kv, 2 do
      if not string.find(kv[i], '#', 1, true) then each(kv[i + 1]) end
    end
  end
end
return most`;

/**
 * The highest attempts-made count among the job records a queue holds outside the dead-letter set (its
 * lists, sorted sets and claims), or -1 when it holds none.
 */
export async function mostAttemptsMade(client: Redis, prefix: string, queue: string): Promise<number> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await client.scan(cursor, 'MATCH', `${prefix}:{${queue}}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...found.filter((k) => !/:dead(-index)?$/.test(k)));
  } while (cursor !== '0');
  if (keys.length === 0) return -1;
  return Number(await client.eval(MAX_ATTEMPTS_LUA, keys.length, ...keys));
}

/** `promise`'s value, or `onTimeout` if it has not settled within `ms` (the timer is cleared either way). */
export async function within<T, U>(promise: Promise<T>, ms: number, onTimeout: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<U>((resolve) => (timer = setTimeout(() => resolve(onTimeout), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
