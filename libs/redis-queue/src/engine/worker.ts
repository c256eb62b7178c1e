import { performance } from 'perf_hooks';
import { backoffDelay, BackoffOptions } from './backoff.js';
import { decodeRecord, DecodedJob, encodePayload, recordId, RS } from './codec.js';
import { QueueAdmin, QueueRules } from './admin.js';
import { Claim, Delivery } from './delivery.js';
import {
  isPermanent,
  isRateLimited,
  JobCancelledError,
  JobTimeoutError,
  LeaseLostError,
  ShutdownAbortError,
} from './errors.js';
import { JobContext } from './job-context.js';
import { notifyChannel, queueKeyList } from './keys.js';
import { JobObserver, JobOutcome } from './observer.js';
import { QueueLogger } from './logger.js';
import { workerMessages } from './messages.js';
import { QueueNotifications } from './notifications.js';
import { RedisClient, replaceIfStale } from './redis-client.js';
import { RedisClock } from './redis-clock.js';
import { ClaimReply, packArgs, ScriptedClient, withScripts } from './scripts.js';
import { emptySettles, encodeSettles, PendingSettles, settleCount } from './settle.js';
import { sleep, Wakeup } from './signal.js';
import { LongTimer, setLongTimeout } from './timers.js';

/** Runs one job. A thrown error (or rejection) retries the job; a PermanentJobError dead-letters it. */
export type JobProcessor = (payload: unknown, job: JobContext) => unknown;

export interface WorkerSettings {
  queue: string;
  prefix: string;
  /** Connection for scripts (role `worker`); may be shared by the workers of a process. */
  client: RedisClient;
  /** The process's subscription to queue notifications (shared by its workers). */
  notifications: QueueNotifications;
  process: JobProcessor;
  /** Jobs run at once, at most. */
  concurrency: number;
  /** ms a claimed job stays leased without renewal; renewed every third of it. */
  leaseMs: number;
  /** Attempts, backoff and timeout for jobs that did not set their own. */
  defaults: { attempts: number; backoff: BackoffOptions; timeout?: number };
  logger: QueueLogger;
  /** Write payloads into failure logs. Default: false. */
  logPayloads?: boolean;
  /** Most jobs claimed in one round trip. Default: 1000. */
  maxBatch?: number;
  /** Most record bytes in one claim (one job always fits). Default: 2 MiB. */
  maxClaimBytes?: number;
  /**
   * ms a caller-chosen jobId stays taken after its job completed, so that a producer retrying an enqueue
   * cannot run the job again. Default: 3600000 (1 hour); 0: free at once.
   */
  jobIdRetention?: number;
  /** Largest result (JSON bytes) kept for a tracked job. Default: 65536. */
  maxResultBytes?: number;
  /** Largest progress value (JSON bytes). Default: 65536. */
  maxProgressBytes?: number;
  /** Watch the jobs this worker runs (metrics, tracing). Default: none. */
  observers?: readonly JobObserver[];
  /**
   * Queue-wide rules (rate limit, global and per-group concurrency, per-group rate limit) this worker's
   * handler declares; stored in Redis at start, where every worker of the queue obeys them (the last
   * worker to start wins; a change is logged). Default: leave what Redis has.
   */
  rules?: QueueRules;
}

export const DEFAULT_JOB_ID_RETENTION = 3_600_000;
export const DEFAULT_MAX_CLAIM_BYTES = 2 * 1024 * 1024;
export const DEFAULT_MAX_RESULT_BYTES = 64 * 1024;
const MAX_STACK = 8192;
/** ms a handler gets after its timeout aborted it before its attempt is settled anyway (at most). */
const TIMEOUT_GRACE_MS = 5000;
/** Progress values are sent at most this often per worker. */
const PROGRESS_EVERY_MS = 50;

/**
 * The worker's lifecycle: `created` until start(); `running` claims and runs jobs; `draining` claims
 * nothing more and lets running jobs finish (shutdown); `stopped` when everything was settled or released.
 */
export type WorkerLifecycle = 'created' | 'running' | 'draining' | 'stopped';
type Lifecycle = WorkerLifecycle;

/** A worker loop's liveness as its own process sees it (`QueueWorker.health()`, for health checks). */
export interface WorkerHealth {
  queue: string;
  lifecycle: WorkerLifecycle;
  /** Jobs running now. */
  running: number;
  /** ms a lease lasts without renewal. */
  leaseMs: number;
  /** When the last claim round trip succeeded (ms since the epoch). */
  lastRoundTripAt?: number;
  /** Round trips have been failing since then (the loop backs off and retries); with the last error. */
  failingSince?: number;
  lastError?: string;
  /** When the lease renewal last ran through (renewed what was held, or had nothing to renew). */
  lastRenewalAt?: number;
  /** Renewals have been failing since then. */
  renewFailingSince?: number;
}

/**
 * What the worker believes about the queue: `maybe` something is claimable (a notification, a timer, a
 * full claim), or `empty` (its last claim got fewer jobs than it asked for). An `empty` worker waits for
 * a notification or its timer instead of asking Redis again.
 */
type ReadyHint = 'maybe' | 'empty';

interface Claimed {
  claim: Claim;
  records: string[];
}

/**
 * The claim/settle loop of one queue: claims ready jobs in batches under a lease, runs them with bounded
 * concurrency, settles outcomes in batches on the next round trip, renews leases of running jobs, and
 * while idle waits for the queue's notifications, or a timer to the next time something becomes claimable.
 */
export class QueueWorker {
  private readonly client: ScriptedClient;
  private readonly keys: string[];
  private lifecycle: Lifecycle = 'created';
  private readyHint: ReadyHint = 'maybe';
  /** A timer or notification asked for a round trip even with no free slot (settles, recovery). */
  private lookAgain = true;
  private readonly running = new Map<string, Delivery>();
  /** Deliveries running here by job id: a worker never runs two deliveries of one job at once. */
  private readonly runningIds = new Map<string, Delivery>();
  /** Deliveries waiting for an older delivery of their job (abandoned, still running) to end. */
  private readonly waitingForOlder = new Map<string, Array<{ delivery: Delivery; start: () => void }>>();
  private readonly claims = new Map<string, Claim>();
  private pending: PendingSettles = emptySettles();
  private releases: string[] = [];
  private readonly wakeup = new Wakeup();
  /** Slots promised to claims still in flight. */
  private reserved = 0;
  private lanes?: Promise<void>;
  private stopped?: Promise<void>;
  private timer?: LongTimer;
  private timerAt = Infinity;
  private renewTimer?: NodeJS.Timeout;
  private progressTimer?: NodeJS.Timeout;
  private lastProgressSent = 0;
  private failingSince?: number;
  private renewFailingSince?: number;
  private lastError?: string;
  private lastRoundTripAt?: number;
  /** Redis's clock, learned from every claim reply: due times in announcements are on it, not on this machine's. */
  private readonly clock: RedisClock;
  private lastRenewalAt?: number;
  private readonly unsubscribe: Array<() => void> = [];
  private readonly maxBatch: number;
  private readonly observers?: readonly JobObserver[];
  private onStop!: () => void;
  private readonly stopRequested = new Promise<void>((resolve) => (this.onStop = resolve));

  constructor(private readonly settings: WorkerSettings) {
    this.client = withScripts(settings.client);
    this.clock = new RedisClock(this.client);
    this.keys = queueKeyList(settings.prefix, settings.queue);
    this.maxBatch = settings.maxBatch ?? 1000;
    if (settings.observers && settings.observers.length > 0) this.observers = settings.observers;
  }

  get queue(): string {
    return this.settings.queue;
  }

  /** Jobs running now. */
  get activeCount(): number {
    return this.running.size;
  }

  /** Liveness facts for health checks: cheap, reads no Redis. */
  health(): WorkerHealth {
    const h: WorkerHealth = { queue: this.queue, lifecycle: this.lifecycle, running: this.running.size, leaseMs: this.settings.leaseMs };
    if (this.lastRoundTripAt !== undefined) h.lastRoundTripAt = this.lastRoundTripAt;
    if (this.failingSince !== undefined) h.failingSince = this.failingSince;
    if (this.lastError !== undefined) h.lastError = this.lastError;
    if (this.lastRenewalAt !== undefined) h.lastRenewalAt = this.lastRenewalAt;
    if (this.renewFailingSince !== undefined) h.renewFailingSince = this.renewFailingSince;
    return h;
  }

  start(): void {
    if (this.lifecycle !== 'created') return;
    this.lifecycle = 'running';
    this.lastRenewalAt = Date.now();
    const channel = notifyChannel(this.settings.prefix, this.settings.queue);
    const notifications = this.settings.notifications;
    this.unsubscribe.push(
      notifications.subscribe(channel, (message) => this.onNotification(message)),
      // Notices sent while the subscription was down are lost: look again, and ask about cancels.
      notifications.onResubscribed(() => {
        this.poke();
        void this.renew();
      }),
    );
    // Two lanes share the worker's state, so that one claim is on the wire while the other's jobs run:
    // Redis and this process work in parallel instead of taking turns.
    const lanes = this.settings.concurrency > 1 ? 2 : 1;
    // Claim nothing before the subscription is in place (a cancel notice for a job started earlier would
    // go unheard; renewal would catch it, later) and the rules are stored; neither waits past 5 s.
    const subscribed = raceTimeout(notifications.whenSubscribed(channel).catch(() => undefined), 5000);
    const configured = this.settings.rules ? this.configure(this.settings.rules) : Promise.resolve();
    this.lanes = Promise.all([subscribed, configured])
      .then(() => Promise.all(Array.from({ length: lanes }, () => this.lane())))
      .then(() => undefined);
    const every = Math.max(50, Math.floor(this.settings.leaseMs / 3));
    this.renewTimer = setInterval(() => void this.renew(), every);
    this.renewTimer.unref();
  }

  /**
   * Stops claiming at once, lets running jobs finish for up to `timeoutMs`, aborts and releases the rest
   * back to the front of the queue, settles what finished; bounded by `timeoutMs` plus a short grace for
   * those last calls, even when Redis does not answer.
   */
  stop(timeoutMs: number): Promise<void> {
    this.stopped ??= this.shutdown(timeoutMs);
    return this.stopped;
  }

  /** Stores the rules this worker declares (before it claims anything), logging what changed. */
  private async configure(rules: QueueRules): Promise<void> {
    for (let attempt = 0; this.lifecycle === 'running'; attempt++) {
      try {
        const previous = await new QueueAdmin(this.settings.client, this.settings.prefix).configure(this.queue, rules);
        const changed = describeRuleChanges(previous, rules);
        if (changed) this.settings.logger.log(workerMessages.rulesChanged(this.queue, changed));
        return;
      } catch (error) {
        if (attempt === 0) this.settings.logger.warn(workerMessages.rulesNotStored(this.queue, (error as Error).message));
        await Promise.race([sleep(Math.min(5000, 200 * 2 ** attempt)), this.stopRequested]);
      }
    }
  }

  // -- notifications ------------------------------------------------------------------------------

  private onNotification(message: string): void {
    switch (message[0]) {
      case 'w':
        this.poke();
        break;
      case 't':
        // Something becomes claimable at this time on Redis's clock (a delayed job, a rate window): a time
        // already past means now.
        this.schedule(Math.max(0, this.clock.msUntil(Number(message.slice(1)))));
        break;
      case 'c':
        this.cancelRunning(message.slice(1));
        break;
    }
  }

  /** Something may be claimable: look. */
  private poke(): void {
    this.readyHint = 'maybe';
    this.lookAgain = true;
    this.wakeup.notify();
  }

  private cancelRunning(id: string): void {
    const delivery = this.runningIds.get(id);
    if (!delivery || delivery.stopped) return;
    this.settings.logger.log(workerMessages.cancelling(this.queue, delivery));
    delivery.stop('cancelled', new JobCancelledError(`job ${id} was cancelled`));
  }

  // -- the loop -----------------------------------------------------------------------------------

  private async lane(): Promise<void> {
    const laneBatch = Math.min(this.maxBatch, Math.ceil(this.settings.concurrency / 2));
    while (this.lifecycle === 'running') {
      const free = this.settings.concurrency - this.running.size - this.reserved;
      // Progress alone does not call for a round trip: its own timer does, at most every PROGRESS_EVERY_MS.
      const settles = settleCount(this.pending) - this.pending.progress.size + this.releases.length;
      if (settles > 0 || this.lookAgain || (free > 0 && this.readyHint === 'maybe')) {
        this.lookAgain = false;
        const want = Math.max(0, Math.min(free, laneBatch));
        this.reserved += want;
        const claimed = await this.roundTrip(want);
        // Synchronously with starting the jobs: the other lane must never see the slots free in between.
        this.reserved -= want;
        if (claimed === undefined) continue;
        if (this.lifecycle !== 'running') {
          // Claimed while shutdown began: these never start, they go straight back.
          this.releases.push(...claimed.records.map((_, i) => `${claimed.claim.token}:${i + 1}`));
          break;
        }
        if (want > 0) this.readyHint = claimed.records.length < want ? 'empty' : 'maybe';
        for (let i = 0; i < claimed.records.length; i++) this.startJob(claimed.records[i], claimed.claim, i + 1);
        continue;
      }
      await this.wakeup.wait();
    }
  }

  /** One claim round trip carrying every pending settle; undefined when it failed (and was backed off). */
  private async roundTrip(want: number): Promise<Claimed | undefined> {
    const pending = this.pending;
    this.pending = emptySettles();
    const releases = this.releases;
    this.releases = [];
    const encoded = encodeSettles(pending);
    try {
      if (releases.length > 0) await this.release(releases);
      const sentAt = Date.now();
      const reply: ClaimReply = await this.client.rqClaim(
        ...this.keys,
        packArgs(this.client, {
          lease: this.settings.leaseMs,
          want,
          maxBytes: this.settings.maxClaimBytes ?? DEFAULT_MAX_CLAIM_BYTES,
          retain: this.settings.jobIdRetention ?? DEFAULT_JOB_ID_RETENTION,
          attempts: this.settings.defaults.attempts,
          ...encoded.args,
        }),
      );
      this.clock.learn(Number(reply[5]), sentAt);
      for (const claim of encoded.split) claim.splitUp = true;
      for (const entry of pending.progress.values()) entry.delivery.progressSent.splice(0).forEach((resolve) => resolve());
      this.recovered();
      this.lastRoundTripAt = Date.now();
      return this.applyReply(reply);
    } catch (error) {
      // Settles are idempotent (a settled position or a gone claim changes nothing): keep them for the
      // next round trip, before whatever was added meanwhile.
      this.pending = mergeSettles(pending, this.pending);
      this.releases = releases.concat(this.releases);
      await this.failed(error as Error);
      return undefined;
    }
  }

  private applyReply(reply: ClaimReply): Claimed {
    const [token, blob, nextMs, stale, recovered] = reply;
    if (Number(stale) > 0) this.settings.logger.warn(workerMessages.staleSettles(this.queue, Number(stale)));
    if (recovered) this.abandonRecovered(recovered.split(RS));
    this.schedule(Number(nextMs));
    if (token === 0 || token === '0' || !blob) return { claim: new Claim('', 0, performance.now()), records: [] };
    const records = blob.split(RS);
    const claim = new Claim(String(token), records.length, performance.now());
    this.claims.set(claim.token, claim);
    return { claim, records };
  }

  /** Claims of this worker that its own round trip recovered (after a stall): their jobs run elsewhere now. */
  private abandonRecovered(tokens: string[]): void {
    for (const token of tokens) {
      const claim = this.claims.get(token);
      if (!claim) continue;
      this.claims.delete(token);
      for (const delivery of this.running.values()) {
        if (delivery.claim === claim) this.loseLease(delivery);
      }
    }
  }

  // -- running jobs -------------------------------------------------------------------------------

  private startJob(record: string, claim: Claim, position: number): void {
    let job: DecodedJob;
    try {
      job = decodeRecord(record);
    } catch (error) {
      this.settings.logger.error(workerMessages.malformed(this.queue, recordId(record), (error as Error).message));
      this.bury(claim, position, -1, errorJson(error, 0));
      return;
    }
    const maxAttempts = job.options.attempts ?? this.settings.defaults.attempts;
    const attempt = job.attemptsMade + 1;
    if (attempt > maxAttempts) {
      const error = new LeaseLostError(workerMessages.exhausted(job.attemptsMade, maxAttempts));
      this.settings.logger.error(workerMessages.deadLettered(this.queue, job, error.message));
      // It never runs: lost deliveries used every attempt, so the record says exactly that many.
      this.bury(claim, position, maxAttempts, errorJson(error, maxAttempts));
      return;
    }
    // After a stall (a handler that blocked the event loop) the claim's lease may be gone: a job whose
    // lease this worker knows has run out is not started; it goes back (or already went, with recovery).
    if (this.leaseRanOut(claim)) {
      this.settings.logger.warn(workerMessages.leaseRanOut(this.queue, job));
      this.releases.push(`${claim.token}:${position}`);
      this.closePosition(claim);
      this.wakeup.notifySoon();
      return;
    }
    const delivery = new Delivery(claim, position, job, this.queue, attempt, maxAttempts, (d, value) => this.progress(d, value));
    const older = this.runningIds.get(job.id);
    if (older) {
      // The older delivery was abandoned (its lease lost) but its handler has not returned yet: this one
      // waits (its claim renewed meanwhile), so that one job never runs twice at once here.
      const queue = this.waitingForOlder.get(job.id) ?? [];
      queue.push({ delivery, start: () => this.run(delivery) });
      this.waitingForOlder.set(job.id, queue);
      return;
    }
    this.run(delivery);
  }

  /** The claim's lease, as far as this worker knows, has run out (or nearly: a margin for the round trip). */
  private leaseRanOut(claim: Claim): boolean {
    const margin = Math.min(1000, this.settings.leaseMs / 10);
    return performance.now() > claim.leaseEndsAt(this.settings.leaseMs) - margin;
  }

  private run(delivery: Delivery): void {
    if (this.leaseRanOut(delivery.claim)) {
      this.releases.push(delivery.member);
      this.closePosition(delivery.claim);
      this.wakeup.notifySoon();
      return;
    }
    this.running.set(delivery.member, delivery);
    this.runningIds.set(delivery.id, delivery);
    const timeout = delivery.job.ext.timeout ?? this.settings.defaults.timeout;
    if (timeout !== undefined) delivery.timeoutTimer = setTimeout(() => this.timeOut(delivery, timeout), timeout);
    let outcome: unknown;
    try {
      outcome = this.observers && this.watched(this.observers) ? this.observed(delivery) : this.settings.process(delivery.job.payload, delivery);
    } catch (error) {
      this.finish(delivery, error, true, undefined);
      return;
    }
    if (typeof (outcome as PromiseLike<unknown> | undefined)?.then === 'function') {
      (outcome as PromiseLike<unknown>).then(
        (result) => this.finish(delivery, undefined, false, result),
        (error: unknown) => this.finish(delivery, error, true, undefined),
      );
    } else {
      this.finish(delivery, undefined, false, outcome);
    }
  }

  /** Whether some observer watches the attempt about to start. */
  private watched(observers: readonly JobObserver[]): boolean {
    for (const o of observers) if (!o.watching || o.watching()) return true;
    return false;
  }

  /** Runs the handler with the observers told (and wrapping it, e.g. in a tracing span). */
  private observed(delivery: Delivery): unknown {
    const observers = this.observers!;
    delivery.startedAt = performance.now();
    const waitMs = Math.max(0, this.clock.now() - (delivery.job.ext.dueAt ?? delivery.job.enqueuedAt));
    for (const o of observers) this.tell(() => o.started?.(delivery, waitMs));
    let run = (): unknown => this.settings.process(delivery.job.payload, delivery);
    for (const o of observers) {
      if (!o.run) continue;
      const inner = run;
      run = () => o.run!(delivery, inner);
    }
    return run();
  }

  private told(delivery: Delivery, outcome: JobOutcome, error?: unknown): void {
    if (!this.observers || delivery.startedAt === undefined) return;
    const runMs = performance.now() - delivery.startedAt;
    for (const o of this.observers) this.tell(() => o.finished?.(delivery, outcome, runMs, error));
  }

  private tell(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.settings.logger.warn(workerMessages.observerFailed(this.queue, (error as Error).message));
    }
  }

  /**
   * The attempt ran past its timeout: its signal aborts. A handler that returns within the grace period
   * settles as a failed attempt then; one that ignores the signal has its attempt settled as failed after
   * the grace (a retry may then run elsewhere while it still runs here), and keeps its slot until it returns.
   */
  private timeOut(delivery: Delivery, timeout: number): void {
    delivery.timeoutTimer = undefined;
    if (delivery.stopped) return;
    delivery.stop('timed-out', new JobTimeoutError(workerMessages.timedOut(delivery.id, timeout)));
    const grace = Math.min(timeout, TIMEOUT_GRACE_MS);
    delivery.timeoutTimer = setTimeout(() => {
      delivery.timeoutTimer = undefined;
      if (!this.running.has(delivery.member) || delivery.settledEarly) return;
      this.settings.logger.warn(workerMessages.ignoresTimeout(this.queue, delivery, grace));
      delivery.settledEarly = true;
      this.settleFailure(delivery, delivery.signal.reason as Error);
    }, grace);
  }

  private finish(delivery: Delivery, error: unknown, failed: boolean, result: unknown): void {
    this.running.delete(delivery.member);
    if (this.runningIds.get(delivery.id) === delivery) this.runningIds.delete(delivery.id);
    if (delivery.timeoutTimer) clearTimeout(delivery.timeoutTimer);
    const next = this.waitingForOlder.get(delivery.id)?.shift();
    if (next) {
      if (this.waitingForOlder.get(delivery.id)?.length === 0) this.waitingForOlder.delete(delivery.id);
      next.start();
    }
    // Its last progress value (if not sent yet) goes with its outcome, in the same round trip.
    if (!this.pending.progress.has(delivery.id)) delivery.progressSent.splice(0).forEach((resolve) => resolve());
    this.wakeup.notifySoon();
    if (delivery.settledEarly) return; // its attempt was settled when it ignored its timeout
    switch (delivery.stopped) {
      case 'lease-lost':
      case 'released':
        this.settings.logger.warn(workerMessages.outcomeDropped(this.queue, delivery));
        this.told(delivery, 'abandoned', error);
        return;
      case 'cancelled':
        this.closePosition(delivery.claim);
        this.pending.cancels.push(delivery);
        this.told(delivery, 'cancelled', error);
        return;
      case 'timed-out':
        this.settleFailure(delivery, delivery.signal.reason as Error);
        return;
    }
    if (!failed) {
      this.told(delivery, 'completed');
      this.closePosition(delivery.claim);
      if (delivery.trackRetention === undefined || result === undefined) {
        this.pending.acks.push({ delivery }); // the hot path: nothing to build
      } else {
        this.pending.acks.push({ delivery, result: this.encodeResult(delivery, result) });
      }
      return;
    }
    this.settleFailure(delivery, error);
  }

  private settleFailure(delivery: Delivery, error: unknown): void {
    this.closePosition(delivery.claim);
    const { job } = delivery;
    const message = error instanceof Error ? error.message : String(error);
    const payload = this.settings.logPayloads ? ` payload=${JSON.stringify(job.payload)}` : '';
    const stack = error instanceof Error ? error.stack : undefined;
    if (isRateLimited(error)) {
      this.told(delivery, 'deferred', error);
      this.settings.logger.log(workerMessages.throttled(this.queue, delivery, error.retryAfterMs));
      this.pending.retries.push({ delivery, delay: Math.max(0, error.retryAfterMs), error: errorJson(error, delivery.attempt - 1), defer: true });
    } else if (isPermanent(error) || delivery.attempt >= delivery.maxAttempts) {
      const why = isPermanent(error) ? 'failed permanently' : `failed on its last attempt (${delivery.attempt}/${delivery.maxAttempts})`;
      this.told(delivery, 'dead', error);
      this.settings.logger.error(workerMessages.failedDead(this.queue, delivery, why, message, payload), stack);
      this.pending.deads.push({ claim: delivery.claim, position: delivery.position, made: delivery.attempt, error: errorJson(error, delivery.attempt) });
    } else {
      const delay = backoffDelay(job.options.backoff ?? this.settings.defaults.backoff, delivery.attempt);
      this.told(delivery, 'retried', error);
      this.settings.logger.warn(workerMessages.failedRetry(this.queue, delivery, message, delay, payload));
      this.pending.retries.push({ delivery, delay, error: errorJson(error, delivery.attempt) });
    }
    this.wakeup.notifySoon();
  }

  private bury(claim: Claim, position: number, made: number, error: string): void {
    this.closePosition(claim);
    this.pending.deads.push({ claim, position, made, error });
    this.wakeup.notifySoon();
  }

  /** One of the claim's jobs is no longer this worker's to hold; the claim is forgotten with its last. */
  private closePosition(claim: Claim): void {
    claim.open--;
    if (claim.open <= 0) this.claims.delete(claim.token);
  }

  private encodeResult(delivery: Delivery, result: unknown): string | undefined {
    try {
      return encodePayload(result, this.settings.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES);
    } catch (error) {
      this.settings.logger.warn(workerMessages.resultNotKept(this.queue, delivery, (error as Error).message));
      return undefined;
    }
  }

  /**
   * Queues a progress value for the next round trip (the script keeps it for tracked jobs and writes an
   * event when someone listens: this worker's idea of who listens may be old).
   */
  private progress(delivery: Delivery, value: unknown): Promise<void> {
    if (!this.running.has(delivery.member) || delivery.stopped) return Promise.resolve();
    const json = encodePayload(value, this.settings.maxProgressBytes ?? DEFAULT_MAX_RESULT_BYTES);
    this.pending.progress.set(delivery.id, { delivery, json });
    const sent = new Promise<void>((resolve) => delivery.progressSent.push(resolve));
    // At most one round trip for progress every PROGRESS_EVERY_MS, however often handlers report it.
    if (!this.progressTimer) {
      const wait = Math.max(0, this.lastProgressSent + PROGRESS_EVERY_MS - Date.now());
      this.progressTimer = setTimeout(() => {
        this.progressTimer = undefined;
        this.lastProgressSent = Date.now();
        this.lookAgain = true;
        this.wakeup.notify();
      }, wait);
      this.progressTimer.unref();
    }
    return sent;
  }

  // -- time ---------------------------------------------------------------------------------------

  /** Arms the timer for the next time something may become claimable (ms from now; < 0: none). */
  private schedule(inMs: number): void {
    if (!(inMs >= 0) || this.lifecycle !== 'running') return;
    const at = Date.now() + inMs;
    if (this.timer && at >= this.timerAt) return; // an earlier look is already planned
    this.timer?.clear();
    this.timerAt = at;
    this.timer = setLongTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.poke();
    }, inMs + 1);
  }

  // -- leases -------------------------------------------------------------------------------------

  private async renew(): Promise<void> {
    // Running deliveries (those that ignored their timeout were settled: not theirs to renew) and those
    // waiting for an older delivery of their job.
    const waiting = [...this.waitingForOlder.values()].flat().map((w) => w.delivery);
    const held = [...this.running.values()]
      .filter((d) => (!d.stopped || d.stopped === 'timed-out') && !d.settledEarly)
      .concat(waiting);
    if (this.lifecycle === 'stopped') return;
    if (held.length === 0) {
      // Nothing to renew: renewals are on time, and no longer failing (what failed has ended).
      this.lastRenewalAt = Date.now();
      this.renewFailingSince = undefined;
      return;
    }
    const sentAt = performance.now();
    const tokens = [...new Set(held.map((d) => d.claim.token))];
    const tracked = held.filter((d) => d.trackRetention !== undefined && !d.stopped).map((d) => d.id);
    let lost: number[];
    let cancelling: string[];
    try {
      [lost, cancelling] = await this.client.rqRenew(
        ...this.keys,
        packArgs(this.client, { lease: this.settings.leaseMs, tokens, tracked: tracked.length > 0 ? tracked : undefined }),
      );
    } catch (error) {
      this.lastError = (error as Error).message;
      if (this.renewFailingSince === undefined) {
        this.renewFailingSince = Date.now();
        this.settings.logger.warn(workerMessages.renewFailing(this.queue, (error as Error).message));
      }
      return;
    }
    this.lastRenewalAt = Date.now();
    if (this.renewFailingSince !== undefined) {
      this.settings.logger.log(workerMessages.renewResumed(this.queue, Date.now() - this.renewFailingSince));
      this.renewFailingSince = undefined;
    }
    // Cancel notices travel once, over Pub/Sub; renewal asks about the tracked jobs it holds, so a lost
    // notice delays the abort by at most a renewal period.
    for (const id of cancelling) this.cancelRunning(id);
    const lostTokens = new Set(lost.map((position) => tokens[position - 1]));
    for (const d of held) {
      if (!lostTokens.has(d.claim.token)) {
        d.claim.renewedAt = sentAt;
        continue;
      }
      // `held` was read before the round trip: a delivery that finished meanwhile is left alone.
      if (this.running.has(d.member)) this.loseLease(d);
      else if (waiting.includes(d)) this.dropWaiting(d);
    }
  }

  /** A delivery waiting for an older one of its job whose claim is gone: it will not start. */
  private dropWaiting(delivery: Delivery): void {
    const queue = this.waitingForOlder.get(delivery.id);
    if (!queue) return;
    const i = queue.findIndex((w) => w.delivery === delivery);
    if (i >= 0) queue.splice(i, 1);
    if (queue.length === 0) this.waitingForOlder.delete(delivery.id);
    this.closePosition(delivery.claim);
  }

  private loseLease(delivery: Delivery): void {
    if (delivery.stopped === 'lease-lost' || delivery.stopped === 'released') return;
    this.settings.logger.warn(workerMessages.leaseLost(this.queue, delivery));
    const wasSettledEarly = delivery.settledEarly;
    delivery.stop('lease-lost', new LeaseLostError(`lease of job ${delivery.id} lost`));
    delivery.stopped = 'lease-lost';
    if (!wasSettledEarly) this.closePosition(delivery.claim);
  }

  private async release(members: string[]): Promise<number> {
    if (members.length === 0) return 0;
    return this.client.rqRelease(
      ...this.keys,
      packArgs(this.client, { deliveries: members.map((m) => ({ t: m.slice(0, m.indexOf(':')), p: Number(m.slice(m.indexOf(':') + 1)) })) }),
    );
  }

  // -- shutdown -----------------------------------------------------------------------------------

  private async shutdown(timeoutMs: number): Promise<void> {
    if (this.lifecycle === 'created') {
      this.lifecycle = 'stopped';
      return;
    }
    this.lifecycle = 'draining';
    this.onStop();
    this.wakeup.notify();
    const deadline = Date.now() + timeoutMs;
    await this.lanes;
    // Settle jobs as they finish while the rest drain: a finished job's lease is no longer renewed, so
    // holding its ack until the drain ends (timeoutMs may exceed the lease) could let the lease expire
    // and the job run again elsewhere.
    while (this.running.size > 0 && Date.now() < deadline) {
      await raceTimeout(this.wakeup.wait(), deadline - Date.now());
      if (settleCount(this.pending) > 0) await this.flush(deadline);
    }
    const unfinished = [...this.running.values()].filter((d) => !d.stopped || d.stopped === 'timed-out');
    for (const d of unfinished) {
      d.stop('released', new ShutdownAbortError(workerMessages.shutdownAbort(timeoutMs)));
      d.stopped = 'released';
      this.releases.push(d.member);
    }
    // The last calls get a short grace beyond timeoutMs, however Redis behaves.
    const grace = Date.now() + Math.min(2000, Math.max(500, timeoutMs / 5));
    const releasing = this.releases.length;
    const finished = settleCount(this.pending) - this.pending.progress.size;
    const error = await this.flush(grace);
    if (error) {
      this.settings.logger.error(workerMessages.shutdownUnsettled(this.queue, finished, releasing, error.message));
    } else if (releasing > 0) {
      this.settings.logger.warn(workerMessages.released(this.queue, releasing));
    }
    this.lifecycle = 'stopped';
    clearInterval(this.renewTimer);
    clearTimeout(this.progressTimer);
    this.timer?.clear();
    for (const stop of this.unsubscribe) stop();
    this.wakeup.dispose();
  }

  /** Sends pending settles and releases until none are left or `deadline`; the last error if any remain. */
  private async flush(deadline: number): Promise<Error | undefined> {
    let lastError: Error | undefined;
    while (settleCount(this.pending) + this.releases.length > 0 && Date.now() < deadline) {
      const pending = this.pending;
      const releases = this.releases;
      this.pending = emptySettles();
      this.releases = [];
      const encoded = encodeSettles(pending);
      try {
        await raceTimeout(
          (async () => {
            if (releases.length > 0) await this.release(releases);
            const reply: ClaimReply = await this.client.rqClaim(
              ...this.keys,
              packArgs(this.client, { lease: this.settings.leaseMs, want: 0, retain: this.settings.jobIdRetention ?? DEFAULT_JOB_ID_RETENTION, attempts: this.settings.defaults.attempts, ...encoded.args }),
            );
            // Acks refused at shutdown (the lease ran out meanwhile) are reported as during the run.
            const stale = Number(reply[3]);
            if (stale > 0) this.settings.logger.warn(workerMessages.staleSettles(this.queue, stale));
          })(),
          deadline - Date.now(),
          'Redis did not answer in time',
        );
        for (const claim of encoded.split) claim.splitUp = true;
        lastError = undefined;
      } catch (error) {
        this.pending = mergeSettles(pending, this.pending);
        this.releases = releases.concat(this.releases);
        lastError = error as Error;
        await raceTimeout(sleep(100), deadline - Date.now());
      }
    }
    if (settleCount(this.pending) + this.releases.length > 0) return lastError ?? new Error('Redis did not answer in time');
    return undefined;
  }

  // -- outages ------------------------------------------------------------------------------------

  private recovered(): void {
    if (this.failingSince !== undefined) {
      const outage = Date.now() - this.failingSince;
      this.settings.logger.log(workerMessages.resumed(this.queue, outage));
      this.failingSince = undefined;
    }
  }

  private async failed(error: Error): Promise<void> {
    replaceIfStale(this.settings.client, error, this.settings.logger);
    this.lastError = error.message;
    const now = Date.now();
    if (this.failingSince === undefined) {
      this.failingSince = now;
      this.settings.logger.error(workerMessages.paused(this.queue, error.message));
    }
    const outage = now - this.failingSince;
    await Promise.race([sleep(Math.min(100 + outage / 2, 5000) * (0.5 + Math.random() / 2)), this.stopRequested]);
  }
}

/** "rateLimit 100/1000ms -> 50/1000ms, ..." for the rules that `next` changes; '' when none. */
function describeRuleChanges(previous: QueueRules, next: QueueRules): string {
  const show = (value: unknown): string =>
    value === null || value === undefined
      ? 'none'
      : typeof value === 'object'
        ? `${(value as { max: number }).max}/${(value as { duration: number }).duration}ms`
        : String(value);
  const changes: string[] = [];
  for (const key of ['rateLimit', 'globalConcurrency', 'groupConcurrency', 'groupRateLimit'] as const) {
    if (next[key] === undefined) continue;
    const before = show(previous[key]);
    const after = show(next[key]);
    if (before !== after) changes.push(`${key} ${before} -> ${after}`);
  }
  return changes.join(', ');
}

/** Pending settles of a failed round trip, put back before those added meanwhile. */
function mergeSettles(first: PendingSettles, then: PendingSettles): PendingSettles {
  const progress = new Map(first.progress);
  for (const [id, entry] of then.progress) progress.set(id, entry);
  return {
    acks: first.acks.concat(then.acks),
    retries: first.retries.concat(then.retries),
    deads: first.deads.concat(then.deads),
    cancels: first.cancels.concat(then.cancels),
    progress,
  };
}

/** Resolves with the promise, or rejects with `message` after `ms` (never keeps the process alive). */
async function raceTimeout<T>(promise: Promise<T>, ms: number, message?: string): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve, reject) => {
    timer = setTimeout(() => (message ? reject(new Error(message)) : resolve(undefined)), Math.max(0, ms));
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
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
