import { createHash } from 'crypto';
import { Cron } from 'croner';
import { encodePayload, encodeTail } from './codec.js';
import { describe } from './describe.js';
import { InvalidOptionError } from './errors.js';
import { StoredSchedule } from './inspector.js';
import { asOptionObject, EnqueueOptions, parseEnqueueOptions } from './job-options.js';
import { assertQueueName, notifyChannel, queueKeyList, queueKeys } from './keys.js';
import { QueueLogger } from './logger.js';
import { QueueNotifications } from './notifications.js';
import { RedisClient } from './redis-client.js';
import { RedisClock } from './redis-clock.js';
import { packArgs, ScriptedClient, withScripts } from './scripts.js';
import { scheduleMessages } from './schedule.messages.js';
import { sleep } from './signal.js';
import { LongTimer, setLongTimeout } from './timers.js';

/** When a schedule runs, and the job each tick produces. */
export interface ScheduleSpec {
  /**
   * Cron expression: 5 fields (minute precision) or 6 (seconds first), as croner reads them; in
   * `timeZone`. Not with `every`.
   */
  cron?: string;
  /** Interval in ms (at least 10), ticks aligned to multiples of it since the epoch. Not with `cron`. */
  every?: number;
  /** IANA time zone of `cron` (e.g. 'Europe/Paris'). Default: UTC. */
  timeZone?: string;
  /** The payload of each tick's job. Default: null. */
  payload?: unknown;
  /** Enqueue options of each tick's job (attempts, backoff, priority, timeout, track...). Not delay, runAt or jobId. */
  options?: EnqueueOptions;
  /**
   * Ticks that passed while nothing ran the schedule (every instance down): `once` runs one job for them
   * as soon as an instance is back, `skip` runs none and waits for the next tick. Default: `once`.
   */
  missed?: 'skip' | 'once';
}

/** A tick later than this when its instance gets to it counts as missed (the `missed` policy applies). */
const MISSED_AFTER_MS = 1000;
/** Tick jobs are enqueued this long before their tick (at most), as delayed jobs due at the tick. */
const MAX_LEAD_MS = 5000;
const SCHEDULE_KEYS = ['cron', 'every', 'timeZone', 'payload', 'options', 'missed'];
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:\- ]{0,99}$/;

/** A schedule checked and ready to store: its definition and what identifies it. */
export interface ParsedSchedule {
  stored: Omit<StoredSchedule, 'name' | 'next' | 'last'>;
  fingerprint: string;
}

export function assertScheduleName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidOptionError(
      'name',
      `must be 1-100 characters of letters, digits, spaces, ".", "_", ":" or "-", starting with a letter or digit (got ${describe(name)})`,
    );
  }
}

/** Validates a schedule (errors name the field, prefixed by `field`) and encodes what each tick enqueues. */
export function parseSchedule(value: unknown, source: 'decorator' | 'api', field = 'schedule', maxPayloadBytes?: number): ParsedSchedule {
  const o = asOptionObject(value, field, SCHEDULE_KEYS) as ScheduleSpec;
  if ((o.cron === undefined) === (o.every === undefined)) {
    throw new InvalidOptionError(field, 'needs exactly one of "cron" or "every"');
  }
  if (o.cron !== undefined) {
    if (typeof o.cron !== 'string') throw new InvalidOptionError(`${field}.cron`, `must be a cron expression (got ${describe(o.cron)})`);
    const fields = o.cron.trim().split(/\s+/).length;
    if (!o.cron.trim().startsWith('@') && fields !== 5 && fields !== 6) {
      throw new InvalidOptionError(`${field}.cron`, `must have 5 fields (minute precision) or 6 (seconds first), not ${fields} (got ${describe(o.cron)})`);
    }
    try {
      new Cron(o.cron, { timezone: o.timeZone, paused: true });
    } catch (error) {
      throw new InvalidOptionError(`${field}.cron`, `is not a valid cron expression: ${(error as Error).message} (got ${describe(o.cron)})`);
    }
  }
  if (o.every !== undefined && (typeof o.every !== 'number' || !Number.isInteger(o.every) || o.every < 10 || o.every > 366 * 86_400_000)) {
    throw new InvalidOptionError(`${field}.every`, `must be an integer number of ms from 10 to ${366 * 86_400_000} (got ${describe(o.every)})`);
  }
  if (o.timeZone !== undefined) {
    if (o.cron === undefined) throw new InvalidOptionError(`${field}.timeZone`, 'goes with "cron" only');
    try {
      new Intl.DateTimeFormat('en', { timeZone: o.timeZone });
    } catch {
      throw new InvalidOptionError(`${field}.timeZone`, `is not an IANA time zone (got ${describe(o.timeZone)})`);
    }
  }
  if (o.missed !== undefined && o.missed !== 'skip' && o.missed !== 'once') {
    throw new InvalidOptionError(`${field}.missed`, `must be 'skip' or 'once' (got ${describe(o.missed)})`);
  }
  const options = o.options === undefined ? {} : asOptionObject(o.options, `${field}.options`, [
    'attempts',
    'backoff',
    'traceId',
    'priority',
    'group',
    'timeout',
    'track',
  ]);
  try {
    parseEnqueueOptions(options); // checks each option's value
  } catch (error) {
    if (error instanceof InvalidOptionError) throw new InvalidOptionError(`${field}.options.${error.field}`, error.problem);
    throw error;
  }
  const payload = encodePayload(o.payload ?? null, maxPayloadBytes);
  const stored: ParsedSchedule['stored'] = { source, missed: o.missed ?? 'once', payload, options };
  if (o.cron !== undefined) stored.cron = o.cron;
  if (o.every !== undefined) stored.every = o.every;
  if (o.timeZone !== undefined) stored.tz = o.timeZone;
  if (tickAfter(stored, Date.now()) === undefined) {
    throw new InvalidOptionError(o.cron !== undefined ? `${field}.cron` : field, `never runs: it has no future tick (got ${describe(o.cron ?? o.every)})`);
  }
  const fingerprint = createHash('sha1').update(JSON.stringify(stored)).digest('hex').slice(0, 16);
  return { stored, fingerprint };
}

/**
 * The first tick strictly after `from` (ms). `every`: multiples of the interval since the epoch, so
 * every instance computes the same ticks. `cron`: croner in the schedule's time zone. On a daylight-
 * saving change a wall time that does not exist (02:30 when clocks jump from 02:00 to 03:00) runs once,
 * at the first moment after the jump (03:00), and one that happens twice (02:30 when clocks go back)
 * runs once, at the first of the two.
 */
export function tickAfter(s: Pick<StoredSchedule, 'cron' | 'every' | 'tz'>, from: number): number | undefined {
  if (s.every !== undefined) return (Math.floor(from / s.every) + 1) * s.every;
  if (s.cron === undefined) return undefined;
  const cron = new Cron(s.cron, { timezone: s.tz, paused: true });
  // Strictly after `from`, whatever the parser does around a clock change.
  let at = from;
  for (let i = 0; i < 4; i++) {
    const next = cron.nextRun(new Date(at));
    if (!next) return undefined;
    if (next.getTime() > from) return next.getTime();
    at = Math.max(at + 1000, next.getTime() + 1000);
  }
  return undefined;
}

/** How long before a tick its job is enqueued (as a delayed job due at the tick). */
function leadOf(s: StoredSchedule, tick: number): number {
  const after = tickAfter(s, tick);
  const interval = after === undefined ? MAX_LEAD_MS * 2 : after - tick;
  return Math.max(0, Math.min(MAX_LEAD_MS, Math.floor(interval / 2)));
}

/** A schedule's tick job: its record tail, tracking retention, and whether it has a priority or group. */
function tickJob(s: StoredSchedule): { tail: string; track?: number; routed?: true } {
  const options = parseEnqueueOptions(s.options ?? {});
  const ext = { ...options.ext, schedule: s.name };
  const job: { tail: string; track?: number; routed?: true } = { tail: encodeTail(s.payload, options.stored, options.traceId, ext) };
  if (ext.trackRetention !== undefined) job.track = ext.trackRetention;
  if (ext.priority !== undefined || ext.group !== undefined) job.routed = true;
  return job;
}

/** Stores, replaces or removes schedules (one script call each). */
export class ScheduleStore {
  private readonly client: ScriptedClient;
  private readonly clock: RedisClock;

  constructor(
    client: RedisClient,
    private readonly prefix: string,
  ) {
    this.client = withScripts(client);
    this.clock = new RedisClock(client);
  }

  /** Creates or replaces a schedule; a schedule unchanged keeps its next and last run. Resolves true if it changed. */
  async upsert(queue: string, name: string, schedule: ParsedSchedule): Promise<boolean> {
    assertQueueName(queue);
    assertScheduleName(name);
    // The first tick after now on Redis's clock, which every instance shares.
    const next = tickAfter(schedule.stored, await this.clock.read());
    if (next === undefined) throw new InvalidOptionError('schedule', 'never ticks (the cron expression has no future run)');
    const reply = await this.client.rqSchedule(
      ...queueKeyList(this.prefix, queue),
      packArgs(this.client, { op: 'upsert', name, def: JSON.stringify(schedule.stored), fingerprint: schedule.fingerprint, next }),
    );
    return reply === 1;
  }

  /** Removes a schedule and the job it enqueued ahead for its next tick. Resolves true if it existed. */
  async remove(queue: string, name: string): Promise<boolean> {
    assertQueueName(queue);
    return (await this.client.rqSchedule(...queueKeyList(this.prefix, queue), packArgs(this.client, { op: 'remove', name }))) === 1;
  }

  /** Removes the handler-declared schedules of `queue` that are not in `keep` (code that no longer declares them). */
  async prune(queue: string, keep: readonly string[]): Promise<number> {
    assertQueueName(queue);
    return this.client.rqSchedule(...queueKeyList(this.prefix, queue), packArgs(this.client, { op: 'prune', keep: [...keep] }));
  }
}

export interface SchedulerSettings {
  /** Connection for commands (a worker-role connection: it waits through outages). */
  client: RedisClient;
  notifications: QueueNotifications;
  prefix: string;
  /** The queues whose schedules this process ticks (those it runs handlers for). */
  queues: readonly string[];
  logger: QueueLogger;
}

/** A schedule as this process ticks it: the timer armed for its next tick, and what it was armed for. */
interface Ticking {
  timer?: LongTimer;
  tick?: number;
  fingerprint?: string;
  /** Every read, arm and fire of one schedule runs in turn, so none acts on what another just changed. */
  turn: Promise<void>;
}

/**
 * Turns the schedules of some queues into jobs, in every process that runs their handlers, with no
 * leader: each process arms a timer a little before each tick and asks Redis to fire it; the
 * compare-and-set in schedule.lua lets exactly one of them enqueue the tick's job, as a delayed job due at
 * the tick (so it starts as precisely as any delayed job, and never early). A schedule changed or removed
 * anywhere is re-read at once (the queue's channel says `s`); a tick fires only what Redis holds at that
 * moment, read just before.
 */
export class Scheduler {
  private readonly client: ScriptedClient;
  /** Ticks are times on Redis's clock: this process's own may be off. */
  private readonly clock: RedisClock;
  private readonly ticking = new Map<string, Ticking>();
  private readonly stops: Array<() => void> = [];
  private stopped = false;

  constructor(private readonly settings: SchedulerSettings) {
    this.client = withScripts(settings.client);
    this.clock = new RedisClock(settings.client);
  }

  start(): void {
    for (const queue of this.settings.queues) {
      const channel = notifyChannel(this.settings.prefix, queue);
      const { notifications } = this.settings;
      this.stops.push(
        notifications.subscribe(channel, (message) => {
          if (message === 's') void this.load(queue);
        }),
        notifications.onResubscribed(() => void this.load(queue)),
      );
      void this.load(queue);
      // What changed before the subscription was in place went unheard: read again once it is.
      notifications.whenSubscribed(channel).then(
        () => this.load(queue),
        () => undefined,
      );
    }
  }

  stop(): void {
    this.stopped = true;
    for (const stop of this.stops.splice(0)) stop();
    for (const t of this.ticking.values()) t.timer?.clear();
    this.ticking.clear();
  }

  private key(queue: string, name: string): string {
    return `${queue}\0${name}`;
  }

  private entry(key: string): Ticking {
    let t = this.ticking.get(key);
    if (!t) this.ticking.set(key, (t = { turn: Promise.resolve() }));
    return t;
  }

  /** Runs `task` after whatever this schedule is doing. */
  private inTurn(key: string, task: () => Promise<void> | void): Promise<void> {
    const t = this.entry(key);
    const run = t.turn.then(task).catch((error: unknown) => {
      this.settings.logger.warn(scheduleMessages.failed(key.replace('\0', ' / '), (error as Error).message));
    });
    t.turn = run;
    return run;
  }

  /** Reads the queue's schedules and arms each (retrying while Redis is away); forgets removed ones. */
  private async load(queue: string): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      let all: Record<string, string>;
      try {
        // The clock is read in the same round trip: the timers armed below wait by it.
        [all] = await Promise.all([this.client.hgetall(queueKeys(this.settings.prefix, queue).schedules), this.clock.read()]);
      } catch (error) {
        if (attempt === 0) this.settings.logger.warn(scheduleMessages.unreadable(queue, (error as Error).message));
        await sleep(Math.min(5000, 200 * 2 ** attempt));
        continue;
      }
      const names = new Set(Object.keys(all));
      for (const [name, json] of Object.entries(all)) {
        void this.inTurn(this.key(queue, name), () => this.arm(queue, JSON.parse(json) as StoredSchedule));
      }
      for (const key of this.ticking.keys()) {
        if (key.startsWith(`${queue}\0`) && !names.has(key.slice(queue.length + 1))) {
          void this.inTurn(key, () => this.forget(key));
        }
      }
      return;
    }
  }

  private forget(key: string): void {
    this.ticking.get(key)?.timer?.clear();
    this.ticking.delete(key);
  }

  /** Arms the timer for the schedule's next tick, unless it is armed for exactly that already. */
  private arm(queue: string, s: StoredSchedule & { fingerprint?: string }): void {
    if (this.stopped || s.next === undefined) return;
    const key = this.key(queue, s.name);
    const t = this.entry(key);
    if (t.timer && t.tick === s.next && t.fingerprint === s.fingerprint) return;
    t.timer?.clear();
    t.tick = s.next;
    t.fingerprint = s.fingerprint;
    const wait = s.next - leadOf(s, s.next) - this.clock.now();
    t.timer = setLongTimeout(() => {
      t.timer = undefined;
      void this.inTurn(key, () => this.fire(queue, s.name));
    }, Math.max(0, wait));
  }

  /** Fires the schedule's next tick as Redis holds it now (or its missed ticks, by its policy), then arms the one after. */
  private async fire(queue: string, name: string): Promise<void> {
    const key = queueKeys(this.settings.prefix, queue).schedules;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        // The schedule and Redis's clock in one round trip (both commands leave together).
        const [json, now] = await Promise.all([this.client.hget(key, name), this.clock.read()]);
        if (json === null) return this.forget(this.key(queue, name));
        const s = JSON.parse(json) as StoredSchedule;
        if (s.next === undefined) return;
        if (s.next - leadOf(s, s.next) > now + 50) return this.arm(queue, s); // changed meanwhile: a later tick
        const tick = s.next;
        const missed = tick < now - MISSED_AFTER_MS;
        const skip = missed && s.missed === 'skip';
        if (missed) this.settings.logger.log(scheduleMessages.missed(queue, name, new Date(tick), skip));
        const job = skip ? { tail: '' } : tickJob(s);
        await this.client.rqSchedule(
          ...queueKeyList(this.settings.prefix, queue),
          packArgs(this.client, { op: 'fire', name, tick, next: tickAfter(s, missed ? now : tick), skip, ...job }),
        );
        const after = await this.client.hget(key, name);
        if (after === null) return this.forget(this.key(queue, name));
        return this.arm(queue, JSON.parse(after) as StoredSchedule);
      } catch (error) {
        if (attempt === 0) this.settings.logger.warn(scheduleMessages.fireFailed(queue, name, (error as Error).message));
        await sleep(Math.min(5000, 200 * 2 ** attempt));
      }
    }
  }
}
