import {
  BadRequestException,
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  OnModuleDestroy,
  ServiceUnavailableException,
} from '@nestjs/common';
import { catchError, defer, filter, map, Observable, of, share, Subject, switchMap, takeUntil, timer } from 'rxjs';
import {
  ActivityAction,
  ActivityEntry,
  ActivityLog,
  InvalidOptionError,
  JobInfo,
  JobPage,
  LIBRARY_VERSION,
  ListedState,
  QueueAdmin,
  QueueInspector,
  QueueOverview,
  RedisUnavailableError,
  ScheduleInfo,
  WorkerInfo,
} from '../engine/index.js';
import { QueueProducer } from '../queue.producer.js';
import { RedisQueueConnections } from '../redis-queue.connections.js';
import { dashboardMessages } from './dashboard.messages.js';
import type { DashboardRequest, ResolvedDashboardOptions } from './dashboard.options.js';

/** DI token of the resolved dashboard options. */
export const DASHBOARD_OPTIONS = Symbol('REDIS_QUEUE_DASHBOARD_OPTIONS');

export const LISTED_STATES: readonly ListedState[] = ['ready', 'delayed', 'active', 'dead', 'completed'];

/** What every page gets first, and then every `refreshInterval` ms over the event stream. */
export interface DashboardSnapshot {
  at: string;
  queues: QueueOverview[];
  workers: WorkerInfo[];
  /** When the newest activity entry was recorded: pages reload the activity list when it changes. */
  activityAt?: string;
}

/** What a page needs to know about itself. */
export interface DashboardConfig {
  title: string;
  readOnly: boolean;
  actor: string;
  version: string;
  prefix: string;
  refreshInterval: number;
}

/** Minutes of throughput the snapshot carries (the chart's width). */
const CHART_MINUTES = 60;

/**
 * The dashboard's work: reads through QueueInspector (paged, O(log N + page) each), actions through
 * QueueAdmin and QueueProducer, each action logged with its actor and kept in the activity log; one
 * shared live snapshot for every open page. Engine errors become HTTP errors (400 for bad input, 503
 * when Redis does not answer).
 */
@Injectable()
export class DashboardService implements OnModuleDestroy {
  private readonly logger = new Logger('RedisQueueDashboard');
  private readonly activity: ActivityLog;
  private readonly closing = new Subject<void>();
  /** One read per interval, whatever the number of open pages; none while no page is open. */
  private readonly snapshots: Observable<DashboardSnapshot | undefined>;

  constructor(
    @Inject(DASHBOARD_OPTIONS) private readonly options: ResolvedDashboardOptions,
    private readonly inspector: QueueInspector,
    private readonly admin: QueueAdmin,
    private readonly producer: QueueProducer,
    private readonly connections: RedisQueueConnections,
  ) {
    this.activity = new ActivityLog(() => connections.producer(), connections.settings.prefix);
    this.snapshots = timer(0, options.refreshInterval).pipe(
      // A failed read skips one update; the next interval tries again.
      switchMap(() => defer(() => this.snapshot()).pipe(catchError(() => of(undefined)))),
      takeUntil(this.closing),
      share(),
    );
  }

  onModuleDestroy(): void {
    // Ends the open event streams, so that the HTTP server can close.
    this.closing.next();
    this.closing.complete();
  }

  config(request: DashboardRequest): DashboardConfig {
    return {
      title: this.options.title,
      readOnly: this.options.readOnly,
      actor: this.options.actor(request),
      version: LIBRARY_VERSION,
      prefix: this.connections.settings.prefix,
      refreshInterval: this.options.refreshInterval,
    };
  }

  snapshot(): Promise<DashboardSnapshot> {
    return this.read(async () => {
      const queues = await this.inspector.queues();
      const [overviews, workers, latest] = await Promise.all([
        Promise.all(queues.map((q) => this.inspector.overview(q, CHART_MINUTES))),
        this.admin.workers(),
        this.activity.list(1),
      ]);
      const s: DashboardSnapshot = { at: new Date().toISOString(), queues: overviews, workers };
      if (latest[0]) s.activityAt = latest[0].at.toISOString();
      return s;
    });
  }

  /** The live stream: the snapshot now, then every interval (skipping intervals whose read failed). */
  live(): Observable<{ type: string; data: DashboardSnapshot }> {
    return this.snapshots.pipe(
      filter((s): s is DashboardSnapshot => s !== undefined),
      map((data) => ({ type: 'snapshot', data })),
    );
  }

  jobs(queue: string, state: string, offset: string | undefined, limit: string | undefined): Promise<JobPage> {
    if (!(LISTED_STATES as readonly string[]).includes(state)) throw new BadRequestException(dashboardMessages.badState(state, LISTED_STATES));
    return this.read(() => this.inspector.jobs(queue, state as ListedState, { offset: integer('offset', offset, 0), limit: integer('limit', limit, 50) }));
  }

  async job(queue: string, id: string): Promise<JobInfo> {
    const info = await this.read(() => this.inspector.job(queue, id));
    if (!info) throw new NotFoundException(dashboardMessages.jobNotFound(queue, id));
    return info;
  }

  schedules(queue: string): Promise<ScheduleInfo[]> {
    return this.read(() => this.inspector.schedules(queue));
  }

  workers(): Promise<WorkerInfo[]> {
    return this.read(() => this.admin.workers());
  }

  recentActivity(limit: string | undefined): Promise<ActivityEntry[]> {
    return this.read(() => this.activity.list(integer('limit', limit, 50)));
  }

  // -- actions: refused when read-only; each logged with its actor, and kept in the activity log ---

  pause(request: DashboardRequest, queue: string): Promise<{ changed: boolean }> {
    return this.act(request, 'pause', queue, undefined, async () => {
      const changed = await this.admin.pause(queue);
      return [{ changed }, changed ? 'paused' : 'was already paused'];
    });
  }

  resume(request: DashboardRequest, queue: string): Promise<{ changed: boolean }> {
    return this.act(request, 'resume', queue, undefined, async () => {
      const changed = await this.admin.resume(queue);
      return [{ changed }, changed ? 'resumed' : 'was not paused'];
    });
  }

  retryDead(request: DashboardRequest, queue: string, body: unknown): Promise<{ count: number }> {
    const ids = idsOf(body);
    return this.act(request, 'retry', queue, ids, async () => {
      const count = await this.admin.retryDead(queue, ids);
      return [{ count }, `retried ${count} dead job(s)`];
    });
  }

  removeDead(request: DashboardRequest, queue: string, body: unknown): Promise<{ count: number }> {
    const ids = idsOf(body);
    return this.act(request, 'remove', queue, ids, async () => {
      const count = await this.admin.removeDead(queue, ids);
      return [{ count }, `removed ${count} dead job(s)`];
    });
  }

  cancel(request: DashboardRequest, queue: string, id: string): Promise<{ outcome: string; state?: string }> {
    return this.act(request, 'cancel', queue, [id], async () => {
      const result = await this.producer.cancel(queue, id);
      if (result.outcome === 'not-found') throw new NotFoundException(dashboardMessages.jobNotFound(queue, id));
      return [result, result.outcome === 'aborting' ? 'aborting the running job' : result.outcome];
    });
  }

  promote(request: DashboardRequest, queue: string, id: string, body: unknown): Promise<{ promoted: boolean }> {
    const member = typeof (body as { member?: unknown })?.member === 'string' ? (body as { member: string }).member : undefined;
    return this.act(request, 'promote', queue, [id], async () => {
      const promoted = await this.admin.promote(queue, id, member);
      if (!promoted) throw new NotFoundException(dashboardMessages.notDelayed(queue, id));
      return [{ promoted }, 'runs now'];
    });
  }

  private async act<T>(
    request: DashboardRequest,
    action: ActivityAction,
    queue: string,
    ids: string[] | undefined,
    run: () => Promise<[T, string]>,
  ): Promise<T> {
    const actor = this.options.actor(request);
    const what = `${action} ${ids === undefined ? (action === 'retry' || action === 'remove' ? 'all dead jobs of' : 'queue') : `job(s) ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ` and ${ids.length - 10} more` : ''} of`} "${queue}"`;
    if (this.options.readOnly) {
      this.logger.warn(dashboardMessages.action(actor, what, 'refused (read-only)'));
      throw new ForbiddenException(dashboardMessages.readOnly);
    }
    let result: T;
    let outcome: string;
    try {
      [result, outcome] = await this.read(run);
    } catch (error) {
      this.logger.warn(dashboardMessages.action(actor, what, `failed: ${(error as Error).message}`));
      throw error;
    }
    this.logger.log(dashboardMessages.action(actor, what, outcome));
    const entry: ActivityEntry = { at: new Date(), actor, source: 'dashboard', action, queue, outcome };
    if (ids) entry.ids = ids;
    else if (action === 'retry' || action === 'remove') entry.all = true;
    if (request.ip) entry.ip = request.ip;
    await this.activity.record(entry).catch((error: Error) => this.logger.error(dashboardMessages.activityFailed(error.message)));
    return result;
  }

  /** Runs an engine call, turning its errors into HTTP errors. */
  private async read<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof InvalidOptionError) throw new BadRequestException(error.message);
      if (error instanceof RedisUnavailableError) throw new ServiceUnavailableException(error.message);
      throw error;
    }
  }
}

function integer(field: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (!/^\d{1,9}$/.test(value)) throw new BadRequestException(dashboardMessages.badInteger(field, value));
  return Number(value);
}

/** `{ ids: [...] }` -> the ids; `{ all: true }` -> undefined (every dead job). */
function idsOf(body: unknown): string[] | undefined {
  const b = (body ?? {}) as { ids?: unknown; all?: unknown };
  if (b.all === true && b.ids === undefined) return undefined;
  if (Array.isArray(b.ids) && b.ids.length > 0 && b.ids.length <= 10_000 && b.ids.every((id) => typeof id === 'string' && id.length > 0 && id.length <= 200)) {
    return b.ids as string[];
  }
  throw new BadRequestException(dashboardMessages.badIds);
}
