import { connect } from 'net';
import { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { describe } from './describe.js';
import { InvalidOptionError, RedisUnavailableError } from './errors.js';
import { QueueLogger } from './logger.js';

/** Redis Cluster seed nodes and ioredis cluster options. */
export interface ClusterConnection {
  cluster: ClusterNode[];
  options?: ClusterOptions;
}

/** A URL plus ioredis options the URL cannot express (e.g. `tls: { ca }` for a private CA). */
export interface UrlConnection extends RedisOptions {
  url: string;
}

/**
 * Where Redis is: a `redis://` or `rediss://` URL (user, password and db in the URL), a URL with extra
 * ioredis options (`{ url, tls: { ca } }`), ioredis options (host, port, tls, username, password, or
 * `sentinels` + `name` for Sentinel), or a Redis Cluster.
 */
export type RedisConnection = string | UrlConnection | RedisOptions | ClusterConnection;

export type RedisClient = Redis | Cluster;

/**
 * What a connection is for. Producers fail fast instead of queueing offline; worker command connections
 * wait through outages; blocking connections carry one BLMOVE at a time and no command timeout;
 * subscriber connections carry Pub/Sub subscriptions, which their owner (PubSub) restores itself.
 */
export type ConnectionRole = 'producer' | 'worker' | 'blocking' | 'subscriber';

export interface ClientSettings {
  role: ConnectionRole;
  /** Shown in CLIENT LIST. */
  name: string;
  /** ms before a command without a reply is failed (not for blocking connections). */
  commandTimeout: number;
  logger: QueueLogger;
}

export function isClusterConnection(connection: RedisConnection): connection is ClusterConnection {
  return typeof connection === 'object' && connection !== null && Array.isArray((connection as ClusterConnection).cluster);
}

/** Validates the `connection` option without connecting. */
export function assertConnection(connection: unknown): asserts connection is RedisConnection {
  if (typeof connection === 'string') return assertUrl(connection, 'connection');
  if (typeof connection === 'object' && connection !== null && 'url' in connection) {
    return assertUrl((connection as UrlConnection).url, 'connection.url');
  }
  if (typeof connection !== 'object' || connection === null || Array.isArray(connection)) {
    throw new InvalidOptionError(
      'connection',
      `must be a redis:// URL, ioredis options or { cluster: [...] } (got ${connection === undefined ? 'nothing' : describe(connection)})`,
    );
  }
  if ('cluster' in connection && (!Array.isArray(connection.cluster) || connection.cluster.length === 0)) {
    throw new InvalidOptionError('connection.cluster', 'must be a non-empty array of seed nodes');
  }
}

function assertUrl(value: unknown, field: string): void {
  if (typeof value === 'string' && !value.includes('://')) {
    // "localhost:6379" parses as a URL of scheme "localhost:"; say what is missing instead.
    const shown = redactUrl(`redis://${value}`).slice('redis://'.length);
    const example = /^[^/\s]+$/.test(value) ? shown : 'localhost:6379';
    throw new InvalidOptionError(
      field,
      `must be a URL starting with redis:// or rediss://, such as "redis://${example}" (got ${describe(shown)}, which has no scheme)`,
    );
  }
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    // reported below
  }
  if (!url) {
    const shown = typeof value === 'string' ? describe(redactUrl(value)) : describe(value);
    throw new InvalidOptionError(field, `must be a redis:// or rediss:// URL (got ${shown})`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new InvalidOptionError(field, `must use redis:// or rediss:// (got "${url.protocol}//")`);
  }
}

/** The URL with its password replaced, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):([^@/]*)@/, '//$1:***@');
}

export function describeConnection(connection: RedisConnection): string {
  if (typeof connection === 'string') return redactUrl(connection);
  if ('url' in connection) return redactUrl(connection.url);
  if (isClusterConnection(connection)) return `cluster ${connection.cluster.map((n) => (typeof n === 'object' ? `${n.host}:${n.port}` : String(n))).join(',')}`;
  if (connection.sentinels) return `sentinel master "${connection.name}"`;
  return `${connection.host ?? '127.0.0.1'}:${connection.port ?? 6379}`;
}

const retryStrategy = (times: number): number => Math.min(100 * 2 ** Math.min(times - 1, 5), 2000) + Math.floor(Math.random() * 100);

/** The ioredis options a role sets over the user's (also used for connections to single cluster nodes). */
export function roleOptions(settings: Pick<ClientSettings, 'role' | 'name' | 'commandTimeout'>): RedisOptions {
    const common: RedisOptions = {
    connectionName: settings.name,
    retryStrategy,
    connectTimeout: 10_000,
    keepAlive: 10_000,
    // disconnect() ends the socket, then destroys it after disconnectTimeout (default 2 s) if it is still
    // open. For a socket still connecting, ioredis then runs its ready check on the ended socket, and that
    // failure arms a second such timer that nothing clears: an app closed right after init() stayed alive
    // 2 s longer. A closed connection is closed politely with QUIT first (closeClient), or is dead, so
    // nothing is lost by destroying it at once.
    disconnectTimeout: 0,
  };
  switch (settings.role) {
    case 'producer':
      // No silent offline queue: enqueue waits for a connection itself, bounded by commandTimeout.
      // No re-send after a reconnect either: a command whose reply was lost may have run, and running an
      // enqueue again after its job completed would store and run the job twice. It fails instead
      // (RedisUnavailableError: outcome unknown), and the caller decides.
      return { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: settings.commandTimeout };
    case 'worker':
      return { ...common, maxRetriesPerRequest: null, commandTimeout: settings.commandTimeout };
    case 'blocking':
      return { ...common, maxRetriesPerRequest: null };
    case 'subscriber':
      // PubSub subscribes again itself once the connection is ready, so that it knows when the
      // subscriptions are back; nothing is queued offline or re-sent after a drop.
      return {
        ...common,
        maxRetriesPerRequest: null,
        autoResubscribe: false,
        autoResendUnfulfilledCommands: false,
        enableOfflineQueue: false,
      };
  }
}

/** Creates an ioredis client for one role, logging each outage once (when it starts and when it ends). */
export function createClient(connection: RedisConnection, settings: ClientSettings): RedisClient {
  const client = newClient(connection, settings);
  watchOutages(client, settings);
  return client;
}

/** Creates an ioredis client for one role, without outage logging (for owners that log outages their way). */
export function newClient(connection: RedisConnection, settings: Pick<ClientSettings, 'role' | 'name' | 'commandTimeout'>): RedisClient {
  const overrides = roleOptions(settings);
  let client: RedisClient;
  if (typeof connection === 'string') {
    client = new Redis(connection, overrides);
  } else if ('url' in connection) {
    const { url, ...options } = connection;
    client = new Redis(url, { ...options, ...overrides });
  } else if (isClusterConnection(connection)) {
    const { enableOfflineQueue, maxRetriesPerRequest, commandTimeout, ...perNode } = overrides;
    client = new Cluster(connection.cluster, {
      // During a failover, wait a moment for the slot map to settle instead of failing on MOVED at once.
      retryDelayOnMoved: 100,
      ...connection.options,
      enableOfflineQueue,
      clusterRetryStrategy: retryStrategy,
      redisOptions: { ...connection.options?.redisOptions, ...perNode, maxRetriesPerRequest, commandTimeout },
    });
  } else {
    client = new Redis({ ...connection, ...overrides });
  }
  return client;
}

function watchOutages(client: RedisClient, settings: ClientSettings): void {
  let downSince: number | undefined;
  let everReady = false;
  client.on('error', (error: Error) => {
    if (downSince === undefined) {
      downSince = Date.now();
      settings.logger.warn(
        `Redis ${everReady ? 'connection lost' : 'unreachable'} (${settings.name}): ${error.message}; reconnecting with backoff`,
      );
      // A server at maxclients writes its refusal and closes: the client sees only EPIPE or a reset.
      // Ask it once, on a bare socket, what it says to a new connection.
      if (/EPIPE|ECONNRESET/.test(error.message) && !(client instanceof Cluster) && !client.options.tls) {
        void greeting(client.options.host ?? '127.0.0.1', client.options.port ?? 6379).then((line) => {
          if (line && /max number of clients/i.test(line)) {
            settings.logger.warn(`Redis refuses new connections (${settings.name}): "${line}": raise maxclients, or run fewer connections`);
          }
        });
      }
    }
  });
  // A cluster client reports its nodes' failures as 'node error' (the node's address comes with it).
  const nodesDown = new Set<string>();
  client.on('node error', (error: Error, node: string) => {
    if (nodesDown.has(node)) return;
    nodesDown.add(node);
    settings.logger.warn(`Redis cluster node ${node} failing (${settings.name}): ${error.message}; the client reroutes`);
  });
  client.on('ready', () => {
    nodesDown.clear();
    if (downSince !== undefined) {
      settings.logger.log(`Redis connection restored (${settings.name}) after ${Date.now() - downSince} ms`);
    }
    downSince = undefined;
    everReady = true;
  });
}

/** What a server writes first to a new connection without being asked (a refusal), within 1 s; '' if nothing. */
function greeting(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    let text = '';
    const done = (): void => {
      socket.destroy();
      resolve(text.split('\r\n')[0].replace(/^-/, ''));
    };
    socket.setTimeout(1000, done);
    socket.once('error', done);
    socket.once('close', done);
    socket.on('data', (chunk) => {
      text += chunk.toString();
      if (text.includes('\r\n')) done();
    });
  });
}

/** A call waiting for its client to become ready. */
interface ReadyWaiter {
  onReady(): void;
  onEnd(): void;
  lastError?: Error;
}

const readyWaiters = new WeakMap<RedisClient, Set<ReadyWaiter>>();

/**
 * The calls waiting for `client`: one ready, one error and one end listener per client however many
 * calls wait (a listener per call made Node warn of a leak past 10 enqueues waiting through an outage).
 */
function waitersOf(client: RedisClient): Set<ReadyWaiter> {
  let waiters = readyWaiters.get(client);
  if (!waiters) {
    const set = new Set<ReadyWaiter>();
    client.on('ready', () => [...set].forEach((w) => w.onReady()));
    client.on('error', (error: Error) => set.forEach((w) => (w.lastError = error)));
    client.on('end', () => [...set].forEach((w) => w.onEnd()));
    readyWaiters.set(client, set);
    waiters = set;
  }
  return waiters;
}

/**
 * Resolves once the client is ready, or rejects with RedisUnavailableError after `timeoutMs`. `bound`
 * tells the reader of that error what set the limit.
 */
export function whenReady(
  client: RedisClient,
  timeoutMs: number,
  what: string,
  bound = 'option "commandTimeout" bounds this wait',
): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  if (client.status === 'end') return Promise.reject(new RedisUnavailableError(`${what}: the Redis connection is closed`));
  return new Promise((resolve, reject) => {
    const waiters = waitersOf(client);
    const waiter: ReadyWaiter = {
      onReady: () => {
        done();
        resolve();
      },
      onEnd: () => {
        done();
        reject(new RedisUnavailableError(`${what}: the Redis connection was closed`));
      },
    };
    const timer = setTimeout(() => {
      done();
      const cause = waiter.lastError ? ` (${waiter.lastError.message})` : '';
      reject(new RedisUnavailableError(`${what}: Redis unreachable for ${timeoutMs} ms${cause}; ${bound}`));
    }, timeoutMs);
    timer.unref(); // the connection's own reconnect timer keeps the process alive while it matters
    const done = () => {
      clearTimeout(timer);
      waiters.delete(waiter);
    };
    waiters.add(waiter);
  });
}

/** Closes a client politely, or drops it if Redis does not answer within `timeoutMs`. Never throws. */
export async function closeClient(client: RedisClient, timeoutMs = 1000): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.quit().catch(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
  ]);
  clearTimeout(timer);
  if ((client.status as string) !== 'end') client.disconnect();
}

const lastReplaced = new WeakMap<RedisClient, number>();

/**
 * After a command timed out, replaces the client's connection (at most once per 5 s). ioredis's
 * commandTimeout fails the command but keeps the socket, and a connection that went silent without a
 * reset (half-open: a NAT or firewall forgot it, the peer's host vanished, a frozen primary after a
 * failover) would time out every later command until TCP gives up, many minutes later. Reconnecting also
 * re-reads a cluster's slot map and asks the sentinels for the current primary.
 */
export function replaceIfStale(client: RedisClient, error: unknown, logger?: QueueLogger): void {
  if (!(error instanceof Error) || error.message !== 'Command timed out' || client.status !== 'ready') return;
  const now = Date.now();
  if (now - (lastReplaced.get(client) ?? 0) < 5000) return;
  lastReplaced.set(client, now);
  logger?.warn(`Redis did not answer in time; replacing the connection in case it is silently dead`);
  client.disconnect(true);
}
