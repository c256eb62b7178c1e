import {
  ActivityAction,
  ActivityLog,
  JobInfo,
  JobPage,
  JobProducer,
  ListedState,
  QueueAdmin,
  QueueInspector,
  QueueOverview,
  RedisQueueError,
  ScheduleInfo,
  WorkerInfo,
} from '../engine/index.js';
import { cliMessages } from './cli.messages.js';
import { bold, count, dim, fields, iso, red, relative, short, table, yellow } from './cli.format.js';

/** What the commands work with: the engine's views over one connection, and where output goes. */
export interface CliContext {
  inspector: QueueInspector;
  admin: QueueAdmin;
  producer: JobProducer;
  /** Where actions are recorded with who took them (the dashboard shows them too). */
  activity: ActivityLog;
  /** Who runs the command: OS user and host. */
  actor: string;
  prefix: string;
  json: boolean;
  out: (text: string) => void;
}

/** A command failed in a way the user should read (exit code 1), as opposed to a usage error (2). */
export class CliFailure extends RedisQueueError {}

export const LISTED_STATES: readonly ListedState[] = ['ready', 'delayed', 'active', 'dead', 'completed'];

/** One queue in `rq status`. */
export interface QueueStatus {
  queue: string;
  ready: number;
  delayed: number;
  active: number;
  dead: number;
  paused: boolean;
  /** Jobs completed per minute, over the last 5 minutes. */
  completedPerMinute: number;
  /** Failed attempts (retried or dead) per minute, over the last 5 minutes. */
  failedPerMinute: number;
  /** Worker processes alive that run the queue. */
  workers: number;
}

/** Keeps an action in the activity log; a failure to record it does not fail the command that was done. */
async function record(ctx: CliContext, action: ActivityAction, queue: string, outcome: string, ids?: string[]): Promise<void> {
  await ctx.activity
    .record({ at: new Date(), actor: ctx.actor, source: 'cli', action, queue, outcome, ...(ids ? { ids } : action === 'retry' || action === 'remove' ? { all: true } : {}) })
    .catch(() => undefined);
}

function print(ctx: CliContext, json: unknown, human: () => string): void {
  ctx.out(ctx.json ? JSON.stringify(json, null, 2) : human());
}

/** Every queue: counts, rates over the last 5 minutes, paused state, workers. */
export async function readStatus(ctx: CliContext): Promise<QueueStatus[]> {
  const [queues, workers] = await Promise.all([ctx.inspector.queues(), ctx.admin.workers()]);
  const overviews = await Promise.all(queues.map((q) => ctx.inspector.overview(q, 5)));
  const elapsed = 4 + (Date.now() % 60_000) / 60_000; // minutes the 5 buckets cover (the last is under way)
  return overviews.map((o: QueueOverview) => {
    const sum = (pick: (t: QueueOverview['throughput'][number]) => number) => o.throughput.reduce((n, t) => n + pick(t), 0);
    return {
      queue: o.queue,
      ...o.counts,
      paused: o.paused,
      completedPerMinute: round(sum((t) => t.completed) / elapsed),
      failedPerMinute: round(sum((t) => t.failed + t.dead) / elapsed),
      workers: workers.filter((w) => w.queues.some((q) => q.queue === o.queue)).length,
    };
  });
}

const round = (n: number) => Math.round(n * 10) / 10;

export function statusTable(rows: QueueStatus[], prefix: string): string {
  if (rows.length === 0) return cliMessages.noQueues(prefix);
  return table(
    ['QUEUE', 'READY', 'DELAYED', 'ACTIVE', 'DEAD', 'DONE/MIN', 'FAILED/MIN', 'WORKERS', 'STATE'],
    rows.map((r) => [
      r.queue,
      count(r.ready),
      count(r.delayed),
      count(r.active),
      r.dead > 0 ? red(count(r.dead)) : '0',
      String(r.completedPerMinute),
      r.failedPerMinute > 0 ? red(String(r.failedPerMinute)) : '0',
      String(r.workers),
      r.paused ? yellow('paused') : 'running',
    ]),
    new Set([1, 2, 3, 4, 5, 6, 7]),
  );
}

export async function status(ctx: CliContext): Promise<void> {
  const rows = await readStatus(ctx);
  print(ctx, rows, () => statusTable(rows, ctx.prefix));
}

export async function jobs(ctx: CliContext, queue: string, state: ListedState, offset: number, limit: number): Promise<void> {
  const page: JobPage = await ctx.inspector.jobs(queue, state, { offset, limit });
  print(ctx, page, () => {
    if (page.jobs.length === 0) return `${cliMessages.noJobs(state)} (queue "${queue}": ${count(page.total)} in all)`;
    const header = ['ID', 'ATTEMPTS', state === 'delayed' ? 'DUE' : state === 'dead' ? 'DIED' : state === 'completed' ? 'FINISHED' : 'ENQUEUED', state === 'dead' ? 'ERROR' : 'PAYLOAD'];
    const rows = page.jobs.map((j) => [
      j.id,
      String(j.attemptsMade),
      relative(j.at ?? j.enqueuedAt),
      j.malformed ? red(`malformed: ${j.malformed}`) : state === 'dead' ? `${j.error?.name}: ${short(j.error?.message, 70)}` : short(j.payload),
    ]);
    const shown = `${offset + 1}-${offset + page.jobs.length} of ${count(page.total)} ${state} jobs in queue "${queue}"`;
    return `${table(header, rows, new Set([1]))}\n${dim(shown)}`;
  });
}

export async function job(ctx: CliContext, queue: string, id: string): Promise<void> {
  const info: JobInfo | undefined = await ctx.inspector.job(queue, id);
  if (!info) throw new CliFailure(cliMessages.jobNotFound(queue, id));
  print(ctx, info, () => {
    const rows: Array<[string, string]> = [
      ['id', info.id],
      ['queue', info.queue],
      ['state', info.cancelling ? 'active (cancelling)' : info.state],
      ['attempts', `${info.attemptsMade}${info.maxAttempts ? ` of ${info.maxAttempts}` : ''}`],
      ['enqueued', `${iso(info.enqueuedAt)} (${relative(info.enqueuedAt)})`],
    ];
    if (info.runAt) rows.push(['due', `${iso(info.runAt)} (${relative(info.runAt)})`]);
    if (info.finishedAt) rows.push(['finished', `${iso(info.finishedAt)} (${relative(info.finishedAt)})`]);
    if (info.priority !== undefined) rows.push(['priority', String(info.priority)]);
    if (info.group !== undefined) rows.push(['group', info.group]);
    rows.push(['trace id', info.traceId], ['tracked', info.tracked ? 'yes' : 'no']);
    if (info.progress !== undefined) rows.push(['progress', JSON.stringify(info.progress)]);
    if (info.result !== undefined) rows.push(['result', JSON.stringify(info.result)]);
    if (info.error) rows.push(['error', red(`${info.error.name}: ${info.error.message}`)]);
    let text = `${fields(rows)}\n${bold('payload:')}\n${JSON.stringify(info.payload, null, 2)}`;
    if (info.error?.stack) text += `\n${bold('stack:')}\n${dim(info.error.stack)}`;
    return text;
  });
}

export async function dead(ctx: CliContext, queue: string, offset: number, limit: number): Promise<void> {
  return jobs(ctx, queue, 'dead', offset, limit);
}

export async function retryOrRemove(ctx: CliContext, verb: 'retry' | 'remove', queue: string, ids: string[], all: boolean): Promise<void> {
  if (ids.length === 0 && !all) throw new UsageError(cliMessages.idsOrAll(verb));
  if (ids.length > 0 && all) throw new UsageError(cliMessages.idsAndAll(verb));
  const n = verb === 'retry' ? await ctx.admin.retryDead(queue, all ? undefined : ids) : await ctx.admin.removeDead(queue, all ? undefined : ids);
  await record(ctx, verb, queue, `${verb === 'retry' ? 'retried' : 'removed'} ${n} dead job(s)`, all ? undefined : ids);
  print(ctx, { queue, [verb === 'retry' ? 'retried' : 'removed']: n }, () => (verb === 'retry' ? cliMessages.retried(n, queue) : cliMessages.removed(n, queue)));
  if (!all && n < ids.length) throw new CliFailure(cliMessages.notAllFound(n, ids.length));
}

export async function pauseOrResume(ctx: CliContext, verb: 'pause' | 'resume', queue: string): Promise<void> {
  const changed = verb === 'pause' ? await ctx.admin.pause(queue) : await ctx.admin.resume(queue);
  await record(ctx, verb, queue, verb === 'pause' ? (changed ? 'paused' : 'was already paused') : changed ? 'resumed' : 'was not paused');
  print(ctx, { queue, paused: verb === 'pause', changed }, () => (verb === 'pause' ? cliMessages.paused(queue, changed) : cliMessages.resumed(queue, changed)));
}

export async function cancel(ctx: CliContext, queue: string, id: string): Promise<void> {
  const result = await ctx.producer.cancel(queue, id);
  if (result.outcome === 'not-found') throw new CliFailure(cliMessages.cancel['not-found'](id));
  await record(ctx, 'cancel', queue, result.outcome === 'aborting' ? 'aborting the running job' : result.outcome, [id]);
  print(ctx, { queue, id, ...result }, () => cliMessages.cancel[result.outcome](id, result.state));
}

export async function promote(ctx: CliContext, queue: string, id: string, member: string | undefined): Promise<void> {
  const done = await ctx.admin.promote(queue, id, member);
  if (!done) throw new CliFailure(cliMessages.notDelayed(queue, id));
  await record(ctx, 'promote', queue, 'runs now', [id]);
  print(ctx, { queue, id, promoted: true }, () => cliMessages.promoted(queue, id));
}

export async function schedules(ctx: CliContext, queue: string | undefined): Promise<void> {
  const queues = queue ? [queue] : await ctx.inspector.queues();
  const all: ScheduleInfo[] = (await Promise.all(queues.map((q) => ctx.inspector.schedules(q)))).flat();
  print(ctx, all, () => {
    if (all.length === 0) return cliMessages.noSchedules;
    return table(
      ['QUEUE', 'NAME', 'WHEN', 'NEXT RUN', 'LAST RUN', 'SOURCE'],
      all.map((s) => [
        s.queue,
        s.name,
        s.cron !== undefined ? `cron ${s.cron}${s.timeZone ? ` (${s.timeZone})` : ''}` : `every ${s.every} ms`,
        relative(s.nextRunAt),
        relative(s.lastRunAt),
        s.source,
      ]),
    );
  });
}

export async function workers(ctx: CliContext): Promise<void> {
  const list: WorkerInfo[] = await ctx.admin.workers();
  print(ctx, list, () => {
    if (list.length === 0) return cliMessages.noWorkers;
    return table(
      ['HOST', 'PID', 'QUEUES (CONCURRENCY)', 'STARTED', 'HEARTBEAT', 'VERSION'],
      list.map((w) => [
        w.host,
        String(w.pid),
        w.queues.map((q) => `${q.queue} (${q.concurrency})`).join(', '),
        relative(w.startedAt),
        relative(w.heartbeatAt),
        w.version,
      ]),
      new Set([1]),
    );
  });
}

/**
 * Redraws the status every `interval` ms until stopped (or `times` frames): on a terminal in place, else
 * one frame after another; with --json, one JSON line per frame.
 */
export async function watch(ctx: CliContext, interval: number, times: number | undefined, stop: AbortSignal): Promise<void> {
  const tty = process.stdout.isTTY === true && !ctx.json;
  for (let frame = 1; !stop.aborted; frame++) {
    const rows = await readStatus(ctx);
    if (ctx.json) ctx.out(JSON.stringify({ at: new Date().toISOString(), queues: rows }));
    else {
      const text = `${dim(`${new Date().toISOString()}  ${cliMessages.watching(interval)}`)}\n${statusTable(rows, ctx.prefix)}`;
      ctx.out(tty ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
    }
    if (times !== undefined && frame >= times) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, interval);
      stop.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
  }
}

/** Bad arguments (exit code 2). */
export class UsageError extends RedisQueueError {}
