import { backoffDelay, BackoffOptions } from './backoff.js';
import { decodeRecord, DecodedJob, recordId, RS } from './codec.js';
import { isPermanent, LeaseLostError, ShutdownAbortError } from './errors.js';
import { JobContext } from './job-context.js';
import { queueKeys } from './keys.js';
import { QueueLogger } from './logger.js';
import { RedisClient, replaceIfStale } from './redis-client.js';
import { scriptKeys, ScriptedClient, withScripts } from './scripts.js';
import { sleep, Wakeup } from './signal.js';

/** Runs one job. A thrown error (or rejection) retries the job; a PermanentJobError dead-letters it. */
export type JobProcessor = (payload: unknown, job: JobContext) => unknown;

export interface WorkerSettings {
  queue: string;
  prefix: string;
  /** Connection for scripts (role `worker`); may be shared by the workers of a process. */
  client: RedisClient;
  /** Dedicated connection for the idle wait (role `blocking`); the worker closes it when it stops. */
  blockingClient: RedisClient;
  process: JobProcessor;
  /** Jobs run at once, at most. */
  concurrency: number;
  /** ms a claimed job stays leased without renewal; renewed every third of it. */
  leaseMs: number;
  /** Attempts and backoff for jobs that did not set their own. */
  defaults: { attempts: number; backoff: BackoffOptions };
  logger: QueueLogger;
  /** Write payloads into failure logs. Default: false. */
  logPayloads?: boolean;
  /** Seconds an idle worker blocks before looking again; bounds idle traffic. Default: 5. */
  idleBlockSeconds?: number;
  /** Most jobs claimed in one round trip. Default: 1000. */
  maxBatch?: number;
  /**
   * ms a caller-chosen jobId stays taken after its job completed, so that a producer retrying an enqueue
   * cannot run the job again. Default: 3600000 (1 hour); 0: free at once.
   */
  jobIdRetention?: number;
}

/** A claim as this worker holds it: its token (the lease, and the fence) and how many jobs it took. */
class Claim {
  /** Some of its jobs were settled on their own: it can no longer be acknowledged whole. */
  splitUp = false;

  constructor(
    readonly token: string,
    readonly size: number,
  ) {}
}

/** A job of a claim, by its 1-based position in the claim; `token:position` names it to the scripts. */
interface Position {
  readonly claim: Claim;
  readonly position: number;
}

/** One delivery of a job: the handler's JobContext, plus what the worker tracks about it. */
class Delivery extends JobContext implements Position {
  controller?: AbortController;
  /** Lease lost or job released: its outcome must not be settled. */
  abandoned = false;
  /** `token:position`, how scripts name this delivery. */
  readonly member: string;

  constructor(
    readonly claim: Claim,
    readonly position: number,
    readonly job: DecodedJob,
    readonly queue: string,
    readonly attempt: number,
    readonly maxAttempts: number,
  ) {
    super();
    this.member = `${claim.token}:${position}`;
  }

  get id(): string {
    return this.job.id;
  }

  get traceId(): string {
    return this.job.traceId;
  }

  get enqueuedAt(): Date {
    return new Date(this.job.enqueuedAt);
  }

  // Created on first use: most handlers never look at it, and an AbortController per job is not free.
  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  abort(reason: Error): void {
    this.controller ??= new AbortController();
    this.controller.abort(reason);
  }

  toJSON(): object {
    return { id: this.id, queue: this.queue, attempt: this.attempt, maxAttempts: this.maxAttempts, traceId: this.traceId };
  }
}

const MAX_STACK = 8192;
export const DEFAULT_JOB_ID_RETENTION = 3_600_000;

/**
 * The claim/settle loop of one queue: claims ready jobs in batches under a lease, runs them with bounded
 * concurrency, settles outcomes in batches on the next round trip, renews leases of running jobs, and
 * while idle blocks on the queue's wake list, waking early for the next delayed job or lease deadline.
 */
export class QueueWorker {
  private readonly client: ScriptedClient;
  private readonly claimKeys: string[];
  private readonly renewKeys: string[];
  private readonly releaseKeys: string[];
  private readonly wakeKey: string;
  private readonly running = new Map<string, Delivery>();
  private acks: Delivery[] = [];
  private retries: Array<Position & { delay: number }> = [];
  /** attemptsMade: attempts to record in the dead letter (-1: leave the record as it is). */
  private deads: Array<Position & { attemptsMade: number; error: string }> = [];
  private readonly wakeup = new Wakeup();
  private wakeRequested = true;
  private readyEmpty = false;
  private stopping = false;
  /** Slots promised to claims still in flight. */
  private reserved = 0;
  private loop?: Promise<void>;
  private stopped?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private renewTimer?: NodeJS.Timeout;
  private blocking?: Promise<void>;
  private failingSince?: number;
  private readonly idleBlockSeconds: number;
  private readonly maxBatch: number;
  private onStop!: () => void;
  private readonly stopRequested = new Promise<void>((resolve) => (this.onStop = resolve));

  constructor(private readonly settings: WorkerSettings) {
    this.client = withScripts(settings.client);
    const keys = queueKeys(settings.prefix, settings.queue);
    this.claimKeys = scriptKeys.claim(keys);
    this.renewKeys = scriptKeys.renew(keys);
    this.releaseKeys = scriptKeys.release(keys);
    this.wakeKey = keys.wake;
    this.idleBlockSeconds = settings.idleBlockSeconds ?? 5;
    this.maxBatch = settings.maxBatch ?? 1000;
  }

  get queue(): string {
    return this.settings.queue;
  }

  /** Jobs running now. */
  get activeCount(): number {
    return this.running.size;
  }

  start(): void {
    if (this.loop) return;
    // Two loops share the worker's state, so that one claim is on the wire while the other's jobs run:
    // Redis and this process work in parallel instead of taking turns.
    const lanes = this.settings.concurrency > 1 ? 2 : 1;
    this.loop = Promise.all(Array.from({ length: lanes }, () => this.run())).then(() => undefined);
    const every = Math.max(50, Math.floor(this.settings.leaseMs / 3));
    this.renewTimer = setInterval(() => void this.renew(), every);
    this.renewTimer.unref();
  }

  /**
   * Stops claiming at once, lets running jobs finish for up to `timeoutMs`, aborts and releases the rest
   * back to the head of the queue, settles what finished, and closes the blocking connection.
   */
  stop(timeoutMs: number): Promise<void> {
    this.stopped ??= this.shutdown(timeoutMs);
    return this.stopped;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.onStop();
    this.wakeup.notify();
    this.settings.blockingClient.disconnect();
    await this.loop;
    // Settle jobs as they finish while the rest drain: a finished job's lease is no longer renewed, so
    // holding its ack until the drain ends (timeoutMs may exceed the lease) could let the lease expire
    // and the job run again elsewhere.
    const deadline = Date.now() + timeoutMs;
    while (this.running.size > 0 && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.wakeup.wait(),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, deadline - Date.now()))),
      ]);
      clearTimeout(timer);
      await this.flushSettles();
    }
    const unfinished = [...this.running.values()];
    if (unfinished.length > 0) {
      for (const d of unfinished) {
        d.abandoned = true;
        d.abort(new ShutdownAbortError(`worker shutting down: job did not finish within ${timeoutMs} ms`));
      }
      this.running.clear();
      await this.release(unfinished.map((d) => d.member));
      this.settings.logger.warn(
        `Queue "${this.queue}": released ${unfinished.length} unfinished job(s) back to the queue at shutdown`,
      );
    }
    await this.flushSettles();
    clearInterval(this.renewTimer);
    clearTimeout(this.timer);
    this.wakeup.dispose();
  }

  private async run(): Promise<void> {
    const laneBatch = Math.min(this.maxBatch, Math.ceil(this.settings.concurrency / 2));
    while (!this.stopping) {
      const free = this.settings.concurrency - this.running.size - this.reserved;
      const settles = this.acks.length + this.retries.length + this.deads.length;
      if (settles > 0 || this.wakeRequested || (free > 0 && !this.readyEmpty)) {
        this.wakeRequested = false;
        const count = Math.min(free, laneBatch);
        this.reserved += count;
        const records = await this.claim(count);
        // Synchronously with starting the jobs: the other lane must never see the slots free in between.
        this.reserved -= count;
        if (records === undefined) continue;
        if (this.stopping) {
          // Claimed while shutdown began: these never start, they go straight back.
          await this.release(records.list.map((_, i) => `${records.claim.token}:${i + 1}`));
          break;
        }
        this.readyEmpty = records.list.length < count;
        for (let i = 0; i < records.list.length; i++) this.startJob(records.list[i], records.claim, i + 1);
        continue;
      }
      await this.waitForWork(free > 0);
    }
  }

  /** One claim round trip carrying every pending settle; undefined when it failed (and was backed off). */
  private async claim(count: number): Promise<{ claim: Claim; list: string[] } | undefined> {
    const acks = this.acks;
    const retries = this.retries;
    const deads = this.deads;
    this.acks = [];
    this.retries = [];
    this.deads = [];
    try {
      const reply = await this.client.rqClaim(
        ...this.claimKeys,
        this.settings.leaseMs,
        count,
        this.settings.jobIdRetention ?? DEFAULT_JOB_ID_RETENTION,
        ...settleArgs(acks, retries, deads),
      );
      this.recovered();
      this.schedule(Number(reply[1]));
      if (Number(reply[2]) > 0) {
        this.settings.logger.warn(
          `Queue "${this.queue}": ${reply[2]} finished job(s) were not settled because their lease had been lost (another delivery owns them)`,
        );
      }
      const list = reply[3] ? reply[3].split(RS) : [];
      return { claim: new Claim(String(reply[0]), list.length), list };
    } catch (error) {
      // Settles are idempotent (a settled position or a gone claim changes nothing): keep them for the
      // next round trip.
      this.acks = acks.concat(this.acks);
      this.retries = retries.concat(this.retries);
      this.deads = deads.concat(this.deads);
      await this.failed(error as Error);
      return undefined;
    }
  }

  private startJob(record: string, claim: Claim, position: number): void {
    let job: DecodedJob;
    try {
      job = decodeRecord(record);
    } catch (error) {
      this.settings.logger.error(`Queue "${this.queue}": job ${recordId(record)} dead-lettered: ${(error as Error).message}`);
      this.deads.push({ claim, position, attemptsMade: -1, error: errorJson(error, 0) });
      this.wakeup.notifySoon();
      return;
    }
    const maxAttempts = job.options.attempts ?? this.settings.defaults.attempts;
    const attempt = job.attemptsMade + 1;
    if (attempt > maxAttempts) {
      const error = new LeaseLostError(
        `attempts exhausted (${job.attemptsMade}/${maxAttempts}): the last delivery was lost with its worker or lease`,
      );
      this.settings.logger.error(`Queue "${this.queue}": job ${job.id} (trace ${job.traceId}) dead-lettered: ${error.message}`);
      // It never runs: lost deliveries used every attempt, so the record says exactly that many.
      this.deads.push({ claim, position, attemptsMade: maxAttempts, error: errorJson(error, maxAttempts) });
      this.wakeup.notifySoon();
      return;
    }
    const delivery = new Delivery(claim, position, job, this.settings.queue, attempt, maxAttempts);
    this.running.set(delivery.member, delivery);
    let outcome: unknown;
    try {
      outcome = this.settings.process(job.payload, delivery);
    } catch (error) {
      this.finish(delivery, error, true);
      return;
    }
    if (typeof (outcome as PromiseLike<unknown> | undefined)?.then === 'function') {
      (outcome as PromiseLike<unknown>).then(
        () => this.finish(delivery, undefined, false),
        (error: unknown) => this.finish(delivery, error, true),
      );
    } else {
      this.finish(delivery, undefined, false);
    }
  }

  private finish(delivery: Delivery, error: unknown, failed: boolean): void {
    this.running.delete(delivery.member);
    if (!failed && !delivery.abandoned) {
      // The hot path: no message to build.
      this.acks.push(delivery);
      this.wakeup.notifySoon();
      return;
    }
    const { job } = delivery;
    const label = `Queue "${this.queue}": job ${job.id} (trace ${job.traceId})`;
    if (delivery.abandoned) {
      this.settings.logger.warn(`${label} finished after its delivery was abandoned (lease lost or released); outcome dropped`);
    } else {
      const message = error instanceof Error ? error.message : String(error);
      const payload = this.settings.logPayloads ? ` payload=${JSON.stringify(job.payload)}` : '';
      const stack = error instanceof Error ? error.stack : undefined;
      if (isPermanent(error) || delivery.attempt >= delivery.maxAttempts) {
        const why = isPermanent(error) ? 'failed permanently' : `failed on its last attempt (${delivery.attempt}/${delivery.maxAttempts})`;
        this.settings.logger.error(`${label} ${why}: ${message}; dead-lettered${payload}`, stack);
        this.deads.push({ ...pos(delivery), attemptsMade: delivery.attempt, error: errorJson(error, delivery.attempt) });
      } else {
        const delay = backoffDelay(job.options.backoff ?? this.settings.defaults.backoff, delivery.attempt);
        this.settings.logger.warn(
          `${label} failed on attempt ${delivery.attempt}/${delivery.maxAttempts}: ${message}; retrying in ${delay} ms${payload}`,
        );
        this.retries.push({ ...pos(delivery), delay });
      }
    }
    this.wakeup.notifySoon();
  }

  /** Waits for a completion, a timer, or (when there is room) a job arriving on the wake list. */
  private async waitForWork(block: boolean): Promise<void> {
    if (!block) return this.wakeup.wait();
    await Promise.race([this.wakeup.wait(), this.blockOnce()]);
  }

  private blockOnce(): Promise<void> {
    if (this.blocking) return this.blocking;
    const client = this.settings.blockingClient;
    // A silently dead connection (no RST) would leave BLMOVE hanging: past its timeout, force a reconnect.
    // A reconnect (a failover, a restart) sends the pending BLMOVE again with its whole timeout: the watch
    // starts over then, or it would take a call that is waiting as it should for a hung one.
    let watchdog: NodeJS.Timeout | undefined;
    const watch = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        if (this.stopping) return;
        this.settings.logger.warn(`Queue "${this.queue}": blocking connection stopped answering; reconnecting it`);
        client.disconnect(true);
      }, this.idleBlockSeconds * 1000 + 3000);
      watchdog.unref();
    };
    watch();
    client.on('ready', watch);
    this.blocking = client
      .blmove(this.wakeKey, this.wakeKey, 'RIGHT', 'RIGHT', this.idleBlockSeconds)
      .then(
        (woke) => {
          if (woke !== null) this.readyEmpty = false;
        },
        async (error: Error) => {
          if (!this.stopping) {
            this.settings.logger.debug?.(`Queue "${this.queue}": idle wait failed: ${error.message}`);
            await sleep(500);
          }
          this.readyEmpty = false;
        },
      )
      .finally(() => {
        clearTimeout(watchdog);
        client.off('ready', watch);
        this.blocking = undefined;
      });
    return this.blocking;
  }

  /** Arms the timer for the next delayed job or lease deadline (ms from now, Redis clock; -1: none). */
  private schedule(inMs: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (inMs < 0 || this.stopping) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.wakeRequested = true;
      this.wakeup.notify();
    }, inMs + 1);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const held = [...this.running.values()].filter((d) => !d.abandoned);
    if (held.length === 0) return;
    const tokens = [...new Set(held.map((d) => d.claim.token))];
    let lost: number[];
    try {
      lost = await this.client.rqRenew(...this.renewKeys, this.settings.leaseMs, ...tokens);
    } catch {
      return; // the connection logs the outage; the next renewal tries again
    }
    const lostTokens = new Set(lost.map((position) => tokens[position - 1]));
    for (const d of held) {
      // `held` was read before the round trip: a delivery that finished meanwhile is left alone.
      if (!lostTokens.has(d.claim.token) || d.abandoned || !this.running.has(d.member)) continue;
      d.abandoned = true;
      this.settings.logger.warn(
        `Queue "${this.queue}": lost the lease of job ${d.job.id} (trace ${d.job.traceId}); aborting it, another delivery owns it now`,
      );
      d.abort(new LeaseLostError(`lease of job ${d.job.id} lost`));
    }
  }

  private async release(members: string[]): Promise<void> {
    if (members.length === 0) return;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.client.rqRelease(...this.releaseKeys, ...members);
        return;
      } catch (error) {
        if (attempt === 2) {
          this.settings.logger.error(
            `Queue "${this.queue}": could not release ${members.length} job(s) (${(error as Error).message}); they return when their lease expires`,
          );
        }
      }
    }
  }

  private async flushSettles(): Promise<void> {
    for (let attempt = 0; attempt < 3 && this.acks.length + this.retries.length + this.deads.length > 0; attempt++) {
      await this.claim(0);
    }
  }

  private recovered(): void {
    if (this.failingSince !== undefined) {
      this.settings.logger.log(`Queue "${this.queue}": worker loop resumed after ${Date.now() - this.failingSince} ms`);
      this.failingSince = undefined;
    }
  }

  private async failed(error: Error): Promise<void> {
    replaceIfStale(this.settings.client, error, this.settings.logger);
    const now = Date.now();
    if (this.failingSince === undefined) {
      this.failingSince = now;
      this.settings.logger.error(`Queue "${this.queue}": worker loop paused: ${error.message}; retrying with backoff`);
    }
    const outage = now - this.failingSince;
    await Promise.race([sleep(Math.min(100 + outage / 2, 5000) * (0.5 + Math.random() / 2)), this.stopRequested]);
  }
}

function pos(delivery: Delivery): Position {
  return { claim: delivery.claim, position: delivery.position };
}

/** Generated ids are all digits; only caller-chosen ids need handling when their job completes. */
function isCallerId(id: string): boolean {
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 48 || c > 57) return true;
  }
  return false;
}

/**
 * Settles on the wire (see claim.lua): acknowledgements grouped by claim, a claim whose every job
 * succeeded as one entry ('all' and its caller-chosen ids), others by position; then retries and dead
 * letters by delivery. Marks the claims it splits up, which are settled by position from then on.
 */
function settleArgs(
  acks: Delivery[],
  retries: Array<Position & { delay: number }>,
  deads: Array<Position & { attemptsMade: number; error: string }>,
): (string | number)[] {
  const byClaim = new Map<Claim, Delivery[]>();
  for (const d of acks) {
    const group = byClaim.get(d.claim);
    if (group) group.push(d);
    else byClaim.set(d.claim, [d]);
  }
  const args: (string | number)[] = [byClaim.size];
  for (const [claim, group] of byClaim) {
    if (!claim.splitUp && group.length === claim.size) {
      const callerIds = group.filter((d) => isCallerId(d.job.id)).map((d) => d.job.id);
      args.push(claim.token, 'all', claim.size, callerIds.length, ...callerIds);
    } else {
      claim.splitUp = true;
      args.push(claim.token, group.length);
      for (const d of group) args.push(isCallerId(d.job.id) ? `${d.position}:${d.job.id}` : d.position);
    }
  }
  args.push(retries.length);
  for (const r of retries) {
    r.claim.splitUp = true;
    args.push(`${r.claim.token}:${r.position}`, r.delay);
  }
  args.push(deads.length);
  for (const d of deads) {
    d.claim.splitUp = true;
    args.push(`${d.claim.token}:${d.position}`, d.attemptsMade, d.error);
  }
  return args;
}

function errorJson(error: unknown, attemptsMade: number): string {
  const e = error instanceof Error ? error : new Error(String(error));
  return JSON.stringify({
    name: e.name,
    message: e.message,
    stack: e.stack && e.stack.length > MAX_STACK ? `${e.stack.slice(0, MAX_STACK)}...` : e.stack,
    attemptsMade,
  });
}
