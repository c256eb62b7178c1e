import type { CanActivate, ModuleMetadata, Type } from '@nestjs/common';
import { describe, InvalidOptionError } from '../engine/index.js';

/** The request as the dashboard reads it: Express's or Fastify's, with what the guard set (`user`). */
export interface DashboardRequest {
  user?: unknown;
  ip?: string;
  headers: Record<string, string | string[] | undefined>;
  url?: string;
  originalUrl?: string;
}

/** Options of `RedisQueueDashboardModule.forRoot`. */
export interface RedisQueueDashboardOptions {
  /** Where the dashboard is mounted in the app (under its global prefix, if any). Default: `'queues'`. */
  path?: string;
  /**
   * Guards that protect every route of the dashboard (pages, assets, API): the app's own, e.g. its JWT
   * or session guard, as classes (resolved by Nest, with `imports` for what they inject) or instances.
   * A guard that refuses answers 403 (or whatever it throws). Default: none (anyone who reaches the app).
   */
  guards?: Array<Type<CanActivate> | CanActivate>;
  /** Refuse every action (retry, remove, cancel, promote, pause, resume) with 403, on the server. Default: `false`. */
  readOnly?: boolean;
  /** Modules the guards' dependencies come from. Default: none. */
  imports?: ModuleMetadata['imports'];
  /**
   * Who made a request, for the activity log. Default: from `request.user` (the guard's): its
   * `username`, `name`, `email`, `id` or `sub`, else `'anonymous'`.
   */
  actor?: (request: DashboardRequest) => string | undefined;
  /** ms between live updates sent to open pages (one Redis read per interval, shared by every page). Default: 2000. */
  refreshInterval?: number;
  /** Title of the page. Default: `'Queues'`. */
  title?: string;
}

export interface ResolvedDashboardOptions {
  path: string;
  guards: Array<Type<CanActivate> | CanActivate>;
  readOnly: boolean;
  imports: NonNullable<ModuleMetadata['imports']>;
  actor: (request: DashboardRequest) => string;
  refreshInterval: number;
  title: string;
}

const KNOWN = ['path', 'guards', 'readOnly', 'imports', 'actor', 'refreshInterval', 'title'];

export function resolveDashboardOptions(options: RedisQueueDashboardOptions = {}): ResolvedDashboardOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', `must be an object (got ${describe(options)})`);
  const unknown = Object.keys(options).find((key) => !KNOWN.includes(key));
  if (unknown) throw new InvalidOptionError(unknown, `is not a dashboard option (known: ${KNOWN.join(', ')})`);
  const path = (options.path ?? 'queues').replace(/^\/+|\/+$/g, '');
  if (!/^[A-Za-z0-9._~\-/]*$/.test(path)) throw new InvalidOptionError('path', `must be a URL path of letters, digits and ._~-/ (got ${describe(options.path)})`);
  const guards = options.guards ?? [];
  if (!Array.isArray(guards) || guards.some((g) => typeof g !== 'function' && (typeof g !== 'object' || g === null || typeof g.canActivate !== 'function'))) {
    throw new InvalidOptionError('guards', 'must be an array of guard classes or instances (with canActivate)');
  }
  if (options.readOnly !== undefined && typeof options.readOnly !== 'boolean') throw new InvalidOptionError('readOnly', `must be true or false (got ${describe(options.readOnly)})`);
  if (options.actor !== undefined && typeof options.actor !== 'function') throw new InvalidOptionError('actor', `must be a function (got ${describe(options.actor)})`);
  const refreshInterval = options.refreshInterval ?? 2000;
  if (typeof refreshInterval !== 'number' || !(refreshInterval >= 100) || refreshInterval > 3_600_000) {
    throw new InvalidOptionError('refreshInterval', `must be a number of ms from 100 to 3600000 (got ${describe(options.refreshInterval)})`);
  }
  const custom = options.actor;
  return {
    path,
    guards,
    readOnly: options.readOnly ?? false,
    imports: options.imports ?? [],
    actor: (request) => custom?.(request) ?? defaultActor(request),
    refreshInterval,
    title: options.title ?? 'Queues',
  };
}

/** The user a guard put on the request: its first identifying field, else 'anonymous'. */
export function defaultActor(request: DashboardRequest): string {
  const user = request.user;
  if (typeof user === 'string' && user) return user;
  if (typeof user === 'object' && user !== null) {
    const u = user as Record<string, unknown>;
    for (const field of ['username', 'name', 'email', 'id', 'sub']) {
      const value = u[field];
      if ((typeof value === 'string' && value) || typeof value === 'number') return String(value);
    }
  }
  return 'anonymous';
}
