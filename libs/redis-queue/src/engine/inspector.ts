import { decodeRecord, DecodedJob, recordId, RS } from './codec.js';
import { RedisQueueError, RedisUnavailableError } from './errors.js';
import { assertQueueName, PRIORITY_LEVELS, queueKeys, QueueKeys, registryKeys } from './keys.js';
import { ChainableCommander, Cluster } from 'ioredis';
import { QueueRef, queueName } from './queue-ref.js';
import { RedisClient, whenReady } from './redis-client.js';

/** How many jobs a queue holds in each state. */
export interface QueueCounts {
  /** Waiting to be claimed (every priority level, group, and jobs recovered from expired claims). */
  ready: number;
  /** Waiting for their due time (including retries in backoff). */
  delayed: number;
  /** Claimed by a worker, under lease. */
  active: number;
  /** In the dead-letter set. */
  dead: number;
}

/** A queue at a glance: counts, whether it is paused, the limits its workers obey. */
export interface QueueOverview {
  queue: string;
  counts: QueueCounts;
  paused: boolean;
  /** The queue's rate limit (jobs started per `duration` ms across every worker), if one is set. */
  rateLimit?: { max: number; duration: number };
  /** Jobs running at once across every worker, at most, if set. */
  globalConcurrency?: number;
  /** Jobs completed, failed (attempts that will be retried) and dead-lettered, per minute, oldest first. */
  throughput: Array<{ minute: Date; completed: number; failed: number; dead: number; cancelled: number }>;
}

/** Where a job is. */
export type JobState = 'ready' | 'delayed' | 'active' | 'completed' | 'dead' | 'cancelled';

/** What `QueueInspector.job()` knows about a job. */
export interface JobInfo {
  id: string;
  queue: string;
  state: JobState;
  /** Attempts spent so far (failed, or lost with their worker). */
  attemptsMade: number;
  /** Attempts the job may use, when known (its own option, or once a worker ran it). */
  maxAttempts?: number;
  enqueuedAt: Date;
  /** Delayed: when it is due. */
  runAt?: Date;
  /** Completed, cancelled or dead: when. */
  finishedAt?: Date;
  payload: unknown;
  traceId: string;
  priority?: number;
  group?: string;
  /** The last progress value its handler reported (tracked jobs). */
  progress?: unknown;
  /** The handler's return value (tracked jobs that completed). */
  result?: unknown;
  /** The last error: the dead-letter reason, or the error of the last failed attempt. */
  error?: { name: string; message: string; stack?: string };
  /** A running job that was cancelled and is being stopped. */
  cancelling?: boolean;
  /** Findable through its whole life (the `track` option); an untracked job is found only once dead. */
  tracked: boolean;
}

/** A job in the dead-letter set, with the error that put it there. */
export interface DeadJob {
  id: string;
  queue: string;
  failedAt: Date;
  /** Attempts used, including the last one. */
  attemptsMade: number;
  error: { name: string; message: string; stack?: string };
  /** The payload, when the stored record could be decoded. */
  payload?: unknown;
  traceId?: string;
  /** The stored job record as it was (for malformed jobs, the raw bytes found in Redis). */
  record: string;
}

/** One job in a listing (`jobs()`): the record decoded, or what could be read of it. */
export interface JobSummary {
  id: string;
  state: JobState;
  attemptsMade: number;
  enqueuedAt?: Date;
  /** Delayed: when it is due; dead: when it died. */
  at?: Date;
  priority?: number;
  group?: string;
  traceId?: string;
  payload?: unknown;
  /** Dead: the error. */
  error?: { name: string; message: string };
  /** Delayed: the stored member, for `QueueAdmin.promote(queue, id, member)`. */
  member?: string;
  /** Set when the record could not be decoded. */
  malformed?: string;
}

/** The states `jobs()` lists. */
export type ListedState = 'ready' | 'delayed' | 'active' | 'dead' | 'completed';

/** Paging of a listing: `offset` from the start of the order the state is listed in. */
export interface Page {
  offset?: number;
  /** Default: 50, at most 1000. */
  limit?: number;
}

/** A page of jobs and how many the state holds in all. */
export interface JobPage {
  total: number;
  jobs: JobSummary[];
}

/** A recurring schedule of a queue (see `QueueProducer.schedule` and the `schedule` handler option). */
export interface ScheduleInfo {
  queue: string;
  name: string;
  /** Cron expression (with seconds when it has six fields), or absent for `every`. */
  cron?: string;
  /** Interval in ms, or absent for `cron`. */
  every?: number;
  /** IANA time zone of the cron expression. */
  timeZone?: string;
  /** The next tick that will produce a job. */
  nextRunAt?: Date;
  /** The last tick that produced one. */
  lastRunAt?: Date;
  /** `decorator`: declared by a handler (removed when the code no longer declares it); `api`: `schedule()`. */
  source: 'decorator' | 'api';
  /** What happens to ticks missed while nothing ran. */
  missed: 'skip' | 'once';
}

/** A schedule as stored in the queue's `schedules` hash (written by schedule.ts and schedule.lua). */
export interface StoredSchedule {
  name: string;
  cron?: string;
  every?: number;
  tz?: string;
  next?: number;
  last?: number;
  source: 'decorator' | 'api';
  missed: 'skip' | 'once';
  /** The job of each tick: payload JSON, enqueue options. */
  payload: string;
  options?: Record<string, unknown>;
}

/** Options of the inspector. */
export interface InspectorSettings {
  /** ms calls wait for the connection to be ready before rejecting with RedisUnavailableError. Default: 5000. */
  timeout?: number;
}

/** A tracked job's entry in Redis (written by the scripts: see _queue.lua). */
interface TrackEntry {
  s: string;
  rec?: string;
  /** Delayed: the score, as text (it keeps every bit of the FIFO fraction). */
  at?: string;
  t?: string;
  p?: number;
  k?: number;
  a?: number;
  m?: number;
  e?: string;
  pr?: string;
  r?: string;
  f?: number;
}

/**
 * Read-only views of queues, for tests, health checks, the dashboard and the CLI. Every call is O(1) or
 * O(log N + page) in Redis: never a scan. Calls wait for the connection to be ready (within `timeout`)
 * and fail with a RedisQueueError, never a raw client error.
 */
export class QueueInspector {
  private closed = false;
  private readonly timeout: number;

  /** @param connection a client, or a function giving one on first use (so nothing connects early) */
  constructor(
    private readonly connection: RedisClient | (() => RedisClient),
    private readonly prefix: string,
    settings: InspectorSettings = {},
  ) {
    this.timeout = settings.timeout ?? 5000;
  }

  /** Calls after this reject: an inspector of a closed app must not open a connection again. */
  close(): void {
    this.closed = true;
  }

  async counts(ref: string | QueueRef): Promise<QueueCounts> {
    const queue = queueName(ref);
    const k = this.keys(queue);
    const r = await this.run('counts', (c) => addCounts(c.pipeline(), k).exec());
    return readCounts(pipelineValues(r), 0);
  }

  /**
   * Counts and pause state of many queues in one pipeline (one per queue on Cluster, where the queues'
   * keys live in different slots), for metrics scrapes and status views.
   */
  async countsOf(queues: readonly string[]): Promise<Map<string, QueueCounts & { paused: boolean }>> {
    const keys = queues.map((queue) => this.keys(queue));
    const per = COUNT_COMMANDS + 1;
    const values = await this.run('countsOf', async (c) => {
      if (c instanceof Cluster) {
        const each = await Promise.all(keys.map((k) => addCounts(c.pipeline(), k).hget(k.meta, 'paused').exec()));
        return each.flatMap(pipelineValues);
      }
      const p = c.pipeline();
      for (const k of keys) addCounts(p, k).hget(k.meta, 'paused');
      return pipelineValues(await p.exec());
    });
    const result = new Map<string, QueueCounts & { paused: boolean }>();
    queues.forEach((queue, i) => result.set(queue, { ...readCounts(values, i * per), paused: values[i * per + COUNT_COMMANDS] === '1' }));
    return result;
  }

  /**
   * The ready job that has waited longest, as far as the heads of the ready lists tell (grouped jobs:
   * the head of the first group), with how long it has waited by the Redis clock: since it was
   * enqueued or, for a delayed job or retry, since it was due. Undefined when nothing is ready.
   */
  async oldestReady(queue: string): Promise<{ id: string; waitingMs: number } | undefined> {
    const k = this.keys(queue);
    const lists = [k.recovered, k.ready, ...Array.from({ length: PRIORITY_LEVELS }, (_, i) => levelKey(k, i + 1))];
    const values = pipelineValues(
      await this.run('oldestReady', (c) => {
        const p = c.pipeline().time();
        for (const list of lists) p.lindex(list, 0);
        return p.zrange(k.groupJobs, 0, 0).exec();
      }),
    );
    const [seconds, micros] = values[0] as [string, string];
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const heads = (values.slice(1, 1 + lists.length) as Array<string | null>).filter((r): r is string => r !== null);
    const group = (values[1 + lists.length] as string[])[0];
    if (group !== undefined) heads.push(groupRecord(group));
    let oldest: { id: string; waitingMs: number } | undefined;
    for (const record of heads) {
      let job: DecodedJob;
      try {
        job = decodeRecord(record);
      } catch {
        continue; // a malformed record waits for a worker to dead-letter it
      }
      const waitingMs = Math.max(0, now - (job.ext.dueAt ?? job.enqueuedAt));
      if (!oldest || waitingMs > oldest.waitingMs) oldest = { id: job.id, waitingMs };
    }
    return oldest;
  }

  /** Counts, pause state, limits and the last `minutes` of per-minute throughput (default 60). */
  async overview(ref: string | QueueRef, minutes = 60): Promise<QueueOverview> {
    const queue = queueName(ref);
    const k = this.keys(queue);
    const now = Math.floor(Date.now() / 60000);
    // Only the buckets asked for (the hash keeps a day of them).
    const fields: string[] = [];
    for (let m = now - minutes + 1; m <= now; m++) fields.push(`c:${m}`, `f:${m}`, `d:${m}`, `x:${m}`);
    const [counts, meta, stats] = await Promise.all([
      this.counts(queue),
      this.run('overview', (c) => c.hmget(k.meta, 'paused', 'rate', 'gconc')),
      fields.length > 0 ? this.run('overview', (c) => c.hmget(k.stats, ...fields)) : [],
    ]);
    const throughput: QueueOverview['throughput'] = [];
    for (let i = 0; i < minutes; i++) {
      const n = (j: number) => Number(stats[i * 4 + j] ?? 0);
      throughput.push({ minute: new Date((now - minutes + 1 + i) * 60000), completed: n(0), failed: n(1), dead: n(2), cancelled: n(3) });
    }
    const overview: QueueOverview = { queue, counts, paused: meta[0] === '1', throughput };
    const rate = /^(\d+),(\d+)$/.exec(meta[1] ?? '');
    if (rate) overview.rateLimit = { max: Number(rate[1]), duration: Number(rate[2]) };
    if (meta[2]) overview.globalConcurrency = Number(meta[2]);
    return overview;
  }

  /** Queues that producers or workers have used under this prefix, by name. */
  async queues(): Promise<string[]> {
    const names = await this.run('queues', (c) => c.zrange(registryKeys(this.prefix).queues, 0, -1));
    return names.sort();
  }

  /** The queue's schedules, by name, with their next and last run. */
  async schedules(ref: string | QueueRef): Promise<ScheduleInfo[]> {
    const queue = queueName(ref);
    const all = await this.run('schedules', (c) => c.hgetall(this.keys(queue).schedules));
    const list: ScheduleInfo[] = [];
    for (const json of Object.values(all)) {
      let s: StoredSchedule;
      try {
        s = JSON.parse(json) as StoredSchedule;
      } catch {
        continue;
      }
      const info: ScheduleInfo = { queue, name: s.name, source: s.source, missed: s.missed };
      if (s.cron !== undefined) info.cron = s.cron;
      if (s.every !== undefined) info.every = s.every;
      if (s.tz !== undefined) info.timeZone = s.tz;
      if (s.next !== undefined) info.nextRunAt = new Date(s.next);
      if (s.last !== undefined) info.lastRunAt = new Date(s.last);
      list.push(info);
    }
    return list.sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * A job by id: its state and everything known about it, or undefined for an unknown id. A dead job is
   * always found; jobs in other states are found when tracked (enqueue option `track`).
   */
  async job(ref: string | QueueRef, id: string): Promise<JobInfo | undefined> {
    const queue = queueName(ref);
    const k = this.keys(queue);
    // The entry says where the record is; the job may move between the two reads (claimed, settled,
    // promoted): then the entry has changed too, so read again.
    for (let attempt = 0; ; attempt++) {
      const [dead, entry] = await this.run('job', (c) => Promise.all([c.hget(k.dead, id), c.hget(k.track, id)]));
      if (dead !== null) return deadInfo(queue, parseDeadEntry(queue, dead), entry !== null);
      if (entry === null) return undefined;
      const t = JSON.parse(entry) as TrackEntry;
      if (t.s === 'dead') return undefined; // its dead-letter entry was removed between the reads
      const record = await this.recordOf(k, t, id);
      if (record !== undefined) return trackedInfo(queue, id, t, record);
      if (attempt >= 20) throw new RedisQueueError(`QueueInspector.job: job ${id} of "${queue}" kept moving while it was read; try again`);
    }
  }

  /** Where a tracked entry says the job's record is, or undefined if it is not there (any more). */
  private async recordOf(k: QueueKeys, t: TrackEntry, id: string): Promise<string | undefined> {
    let record: string | undefined = t.rec;
    if (t.s === 'delayed' && t.at !== undefined) {
      const members = await this.run('job', (c) => c.zrangebyscore(k.delayed, t.at!, t.at!));
      record = members.find((m) => recordId(m) === id);
    } else if ((t.s === 'active' || t.s === 'cancelling') && t.t) {
      const blob = await this.run('job', (c) => c.hget(k.claims, t.t!));
      record = blob?.split(RS)[(t.p ?? 1) - 1];
    }
    return record !== undefined && recordId(record) === id ? record : undefined;
  }

  /** Dead jobs, newest first. */
  async deadJobs(ref: string | QueueRef, options: { offset?: number; limit?: number } = {}): Promise<DeadJob[]> {
    const queue = queueName(ref);
    const k = this.keys(queue);
    const offset = options.offset ?? 0;
    const ids = await this.run('deadJobs', (c) => c.zrevrange(k.deadIndex, offset, offset + (options.limit ?? 100) - 1));
    if (ids.length === 0) return [];
    const entries = await this.run('deadJobs', (c) => c.hmget(k.dead, ...ids));
    return entries.flatMap((entry) => (entry === null ? [] : [parseDeadEntry(queue, entry)]));
  }

  async deadJob(ref: string | QueueRef, id: string): Promise<DeadJob | undefined> {
    const queue = queueName(ref);
    const entry = await this.run('deadJob', (c) => c.hget(this.keys(queue).dead, id));
    return entry === null ? undefined : parseDeadEntry(queue, entry);
  }

  /**
   * A page of the jobs in one state: ready in the order they will run, delayed by due time, active by
   * lease deadline, dead and completed (tracked) newest first. O(log N + page) in Redis.
   */
  async jobs(ref: string | QueueRef, state: ListedState, page: Page = {}): Promise<JobPage> {
    const queue = queueName(ref);
    const k = this.keys(queue);
    const offset = Math.max(0, page.offset ?? 0);
    const limit = Math.min(1000, Math.max(1, page.limit ?? 50));
    switch (state) {
      case 'ready':
        return this.readyPage(k, offset, limit);
      case 'delayed': {
        const [total, flat] = await this.run('jobs', (c) =>
          Promise.all([c.zcard(k.delayed), c.zrange(k.delayed, offset, offset + limit - 1, 'WITHSCORES')]),
        );
        const jobs: JobSummary[] = [];
        for (let i = 0; i + 1 < flat.length; i += 2) {
          jobs.push({ ...summarize(flat[i], 'delayed'), at: new Date(Math.floor(Number(flat[i + 1]))), member: flat[i] });
        }
        return { total, jobs };
      }
      case 'active':
        return this.activePage(k, offset, limit);
      case 'dead': {
        const [total, dead] = await Promise.all([
          this.run('jobs', (c) => c.zcard(k.deadIndex)),
          this.deadJobs(queue, { offset, limit }),
        ]);
        return {
          total,
          jobs: dead.map((d) => ({
            ...summarize(d.record, 'dead'),
            id: d.id,
            attemptsMade: d.attemptsMade,
            at: d.failedAt,
            error: { name: d.error.name, message: d.error.message },
          })),
        };
      }
      case 'completed': {
        const [total, ids] = await this.run('jobs', (c) =>
          Promise.all([c.zcard(k.trackExpiry), c.zrevrange(k.trackExpiry, offset, offset + limit - 1)]),
        );
        const entries = ids.length > 0 ? await this.run('jobs', (c) => c.hmget(k.track, ...ids)) : [];
        const jobs: JobSummary[] = [];
        entries.forEach((entry) => {
          if (entry === null) return;
          const t = JSON.parse(entry) as TrackEntry;
          if (!t.rec) return;
          jobs.push({ ...summarize(t.rec, t.s === 'cancelled' ? 'cancelled' : 'completed'), attemptsMade: t.a ?? 0, at: t.f ? new Date(t.f) : undefined });
        });
        return { total, jobs };
      }
    }
  }

  private async readyPage(k: QueueKeys, offset: number, limit: number): Promise<JobPage> {
    // The ready structures in the order jobs are claimed: recovered, levels 1-5, the default list,
    // levels 6-10; then grouped jobs (by group, oldest first: they take turns with the default list).
    const lists = [k.recovered, ...[1, 2, 3, 4, 5].map((l) => levelKey(k, l)), k.ready, ...[6, 7, 8, 9, 10].map((l) => levelKey(k, l))];
    const lengths = pipelineValues(
      await this.run('jobs', (c) => {
        const p = c.pipeline();
        for (const list of lists) p.llen(list);
        p.zcard(k.groupJobs);
        return p.exec();
      }),
    ).map(Number);
    const total = lengths.reduce((a, b) => a + b, 0);
    const jobs: JobSummary[] = [];
    let skip = offset;
    for (let i = 0; i < lists.length && jobs.length < limit; i++) {
      if (skip >= lengths[i]) {
        skip -= lengths[i];
        continue;
      }
      const records = await this.run('jobs', (c) => c.lrange(lists[i], skip, skip + (limit - jobs.length) - 1));
      skip = 0;
      for (const rec of records) jobs.push(summarize(rec, 'ready'));
    }
    if (jobs.length < limit && lengths[lists.length] > 0) {
      const members = await this.run('jobs', (c) => c.zrange(k.groupJobs, skip, skip + (limit - jobs.length) - 1));
      for (const member of members) jobs.push(summarize(groupRecord(member), 'ready'));
    }
    return { total, jobs };
  }

  private async activePage(k: QueueKeys, offset: number, limit: number): Promise<JobPage> {
    // Claims in order of their lease deadline; each claim's unsettled jobs.
    const total = Number((await this.run('jobs', (c) => c.hget(k.claims, '#active'))) ?? 0);
    const jobs: JobSummary[] = [];
    let skip = offset;
    for (let from = 0; jobs.length < limit; from += 100) {
      const tokens = await this.run('jobs', (c) => c.zrange(k.deadlines, from, from + 99));
      if (tokens.length === 0) break;
      const fields = tokens.flatMap((t) => [t, `${t}#d`]);
      const values = await this.run('jobs', (c) => c.hmget(k.claims, ...fields));
      for (let i = 0; i < tokens.length && jobs.length < limit; i++) {
        const blob = values[i * 2];
        if (!blob) continue;
        const settled = values[i * 2 + 1] ?? ',';
        const records = blob.split(RS).filter((_, p) => !settled.includes(`,${p + 1},`));
        for (const rec of records) {
          if (skip > 0) {
            skip--;
            continue;
          }
          if (jobs.length < limit) jobs.push(summarize(rec, 'active'));
        }
      }
      if (tokens.length < 100) break;
    }
    return { total, jobs };
  }

  private keys(queue: string): QueueKeys {
    assertQueueName(queue);
    return queueKeys(this.prefix, queue);
  }

  /** Runs a read once the client is ready; failures come out as RedisQueueErrors. */
  private async run<T>(what: string, read: (client: RedisClient) => Promise<T>): Promise<T> {
    if (this.closed) throw new RedisUnavailableError(`QueueInspector.${what}: the inspector was closed with its app`);
    const client = typeof this.connection === 'function' ? this.connection() : this.connection;
    await whenReady(client, this.timeout, `QueueInspector.${what}`);
    try {
      return await read(client);
    } catch (error) {
      if (error instanceof RedisQueueError) throw error;
      throw new RedisUnavailableError(`QueueInspector.${what}: ${(error as Error).message}`);
    }
  }
}

/** JobInfo of a tracked job from its entry and record. */
function trackedInfo(queue: string, id: string, t: TrackEntry, record: string): JobInfo {
  const job = decodeRecord(record);
  const info: JobInfo = {
    id,
    queue,
    state: t.s === 'cancelling' ? 'active' : (t.s as JobState),
    attemptsMade: t.a ?? job.attemptsMade,
    enqueuedAt: new Date(job.enqueuedAt),
    payload: job.payload,
    traceId: job.traceId,
    tracked: true,
  };
  if (t.s === 'cancelling') info.cancelling = true;
  const maxAttempts = t.m ?? job.options.attempts;
  if (maxAttempts !== undefined) info.maxAttempts = maxAttempts;
  if (t.s === 'delayed' && t.at !== undefined) info.runAt = new Date(Math.floor(Number(t.at)));
  if (t.f !== undefined) info.finishedAt = new Date(t.f);
  if (job.ext.priority !== undefined) info.priority = job.ext.priority;
  if (job.ext.group !== undefined) info.group = job.ext.group;
  if (t.pr !== undefined) info.progress = JSON.parse(t.pr);
  if (t.r !== undefined) info.result = JSON.parse(t.r);
  if (t.e !== undefined) info.error = errorOf(t.e);
  return info;
}

function levelKey(k: QueueKeys, level: number): string {
  return k[`ready${level}` as keyof QueueKeys];
}

/** Replies `addCounts` adds to a pipeline. */
const COUNT_COMMANDS = 6 + PRIORITY_LEVELS;

/** Queues the commands whose replies `readCounts` turns into counts. */
function addCounts(p: ChainableCommander, k: QueueKeys): ChainableCommander {
  p.llen(k.ready).llen(k.recovered).zcard(k.groupJobs).zcard(k.delayed).hget(k.claims, '#active').hlen(k.dead);
  for (let level = 1; level <= PRIORITY_LEVELS; level++) p.llen(levelKey(k, level));
  return p;
}

function readCounts(values: unknown[], at: number): QueueCounts {
  let levels = 0;
  for (let i = at + 6; i < at + COUNT_COMMANDS; i++) levels += Number(values[i]);
  return {
    ready: Number(values[at]) + Number(values[at + 1]) + Number(values[at + 2]) + levels,
    delayed: Number(values[at + 3]),
    active: Number(values[at + 4] ?? 0),
    dead: Number(values[at + 5]),
  };
}

function pipelineValues(results: Array<[Error | null, unknown]> | null): unknown[] {
  return (results ?? []).map(([error, value]) => {
    if (error) throw new RedisUnavailableError(error.message);
    return value;
  });
}

/** The record inside a grouped job's member (group NUL ['!'] 16-digit sequence record). */
function groupRecord(member: string): string {
  let from = member.indexOf('\0') + 1;
  if (member[from] === '!') from++;
  return member.slice(from + 16);
}

function summarize(record: string, state: JobState): JobSummary {
  let job: DecodedJob;
  try {
    job = decodeRecord(record);
  } catch (error) {
    return { id: recordId(record) || '(no id)', state, attemptsMade: 0, malformed: (error as Error).message };
  }
  const summary: JobSummary = {
    id: job.id,
    state,
    attemptsMade: job.attemptsMade,
    enqueuedAt: new Date(job.enqueuedAt),
    traceId: job.traceId,
    payload: job.payload,
  };
  if (job.ext.priority !== undefined) summary.priority = job.ext.priority;
  if (job.ext.group !== undefined) summary.group = job.ext.group;
  return summary;
}

function errorOf(json: string): JobInfo['error'] {
  try {
    const e = JSON.parse(json) as { name?: string; message?: string; stack?: string };
    return { name: e.name ?? 'Error', message: e.message ?? '', ...(e.stack ? { stack: e.stack } : {}) };
  } catch {
    return { name: 'Error', message: json };
  }
}

function deadInfo(queue: string, dead: DeadJob, tracked: boolean): JobInfo {
  let job: DecodedJob | undefined;
  try {
    job = decodeRecord(dead.record);
  } catch {
    // a malformed record: what the dead entry says is all there is
  }
  const info: JobInfo = {
    id: dead.id,
    queue,
    state: 'dead',
    attemptsMade: dead.attemptsMade,
    enqueuedAt: new Date(job?.enqueuedAt ?? dead.failedAt.getTime()),
    finishedAt: dead.failedAt,
    payload: job?.payload,
    traceId: job?.traceId ?? dead.id,
    error: dead.error,
    tracked,
  };
  if (job?.options.attempts !== undefined) info.maxAttempts = job.options.attempts;
  if (job?.ext.priority !== undefined) info.priority = job.ext.priority;
  if (job?.ext.group !== undefined) info.group = job.ext.group;
  return info;
}

function parseDeadEntry(queue: string, entry: string): DeadJob {
  const raw = JSON.parse(entry) as { id: string; failedAt: number; error: DeadJob['error'] & { attemptsMade?: number }; record: string };
  const { attemptsMade, ...error } = raw.error;
  const dead: DeadJob = {
    id: raw.id,
    queue,
    failedAt: new Date(raw.failedAt),
    attemptsMade: attemptsMade ?? 0,
    error,
    record: raw.record,
  };
  try {
    const job = decodeRecord(raw.record);
    dead.payload = job.payload;
    dead.traceId = job.traceId;
    dead.attemptsMade = job.attemptsMade;
  } catch {
    // malformed jobs keep only their raw record
  }
  return dead;
}

