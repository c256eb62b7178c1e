import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis, RedisOptions } from 'ioredis';
import { describe } from './describe.js';
import { InvalidOptionError, RedisQueueError } from './errors.js';
import { QueueLogger } from './logger.js';
import { pubsubMessages as messages } from './pubsub.messages.js';
import {
  closeClient,
  createClient,
  describeConnection,
  isClusterConnection,
  newClient,
  RedisClient,
  RedisConnection,
  roleOptions,
} from './redis-client.js';

/** Receives the messages of one channel. */
export type MessageListener = (message: string, channel: string) => void;

/** Ends what `subscribe` (or `onResubscribed`) started; calling it again does nothing. */
export type Unsubscribe = () => void;

export interface PubSubSettings {
  /** Where Redis is: the same forms the module's `connection` option takes. */
  connection: RedisConnection;
  /** Name of the subscriber connections in CLIENT LIST, e.g. `rq:subscriber`. */
  name: string;
  logger: QueueLogger;
  /**
   * ms between health checks. Each check sends one command on each subscriber connection (a
   * re-SUBSCRIBE of a channel it holds, which also returns how many subscriptions the connection has).
   * Default: 5000 (0.2 commands/s per connection).
   */
  healthCheckInterval?: number;
  /** ms a health check waits for its answer before the connection is replaced. Default: 5000. */
  healthCheckTimeout?: number;
}

/** Channels per SUBSCRIBE command when many are (re)subscribed at once. */
const SUBSCRIBE_CHUNK = 500;

/** Least ms between two slot-map refreshes asked for by troubled connections (Cluster). */
const REFRESH_SPACING = 1000;

/**
 * The hash tag of a channel name, by Redis Cluster's rule: the text between the first "{" and the first
 * "}" after it, when not empty.
 */
export function hashTag(channel: string): string | undefined {
  const open = channel.indexOf('{');
  if (open < 0) return undefined;
  const close = channel.indexOf('}', open + 1);
  return close > open + 1 ? channel.slice(open + 1, close) : undefined;
}

function isCluster(client: RedisClient): client is Cluster {
  return (client as Cluster).isCluster === true;
}

/**
 * True when `channel` travels by sharded Pub/Sub (SPUBLISH/SSUBSCRIBE): on Redis Cluster, for a channel
 * with a hash tag. Sharded messages stay within the shard that owns the tag's slot, instead of crossing
 * every node of the cluster. Elsewhere (one Redis, Sentinel) every channel is classic.
 */
export function isShardedChannel(client: RedisClient, channel: string): boolean {
  return isCluster(client) && hashTag(channel) !== undefined;
}

/**
 * The command that publishes on `channel` through `client`, for Lua scripts that publish themselves:
 * `SPUBLISH` for a sharded channel (Redis Cluster, hash-tagged), else `PUBLISH`. Inside a script on
 * Cluster, the channel must live on the node that runs the script: give it the same `{tag}` as the keys.
 */
export function publishCommand(client: RedisClient, channel: string): 'SPUBLISH' | 'PUBLISH' {
  return isShardedChannel(client, channel) ? 'SPUBLISH' : 'PUBLISH';
}

/** Publishes `message` on `channel` the way `PubSub` subscribes to it; resolves with Redis's reply. */
export async function publish(client: RedisClient, channel: string, message: string): Promise<number> {
  return Number(await (isShardedChannel(client, channel) ? client.spublish(channel, message) : client.publish(channel, message)));
}

/** What one subscribed channel is: its listeners and where its subscription stands. */
interface Channel {
  readonly name: string;
  readonly sharded: boolean;
  readonly listeners: Set<{ listener: MessageListener }>;
  /** The connection that carries it (none yet on a Cluster whose slot map is not known). */
  link?: Link;
  /**
   * `waiting`: never confirmed by Redis yet; `subscribed`: confirmed on the current connection of its
   * link; `lost`: was subscribed, then its connection dropped or it moved to another node.
   */
  state: 'waiting' | 'subscribed' | 'lost';
  waiters: Array<{ resolve(): void; reject(error: Error): void }>;
}

/** What a connection needs from the PubSub that owns it. */
interface LinkOwner {
  readonly name: string;
  readonly logger: QueueLogger;
  readonly healthCheckTimeout: number;
  deliver(link: Link, channel: string, message: string): void;
  /** Channels that had been lost are subscribed again. */
  resubscribed(): void;
  /** The connection dropped, stopped answering or was redirected: the slot map may have changed. */
  troubled(link: Link): void;
}

/**
 * One subscriber connection and the channels it carries. It subscribes them whenever the connection
 * becomes ready (ioredis's own resubscription is off, so that it knows when they are back), checks
 * them on every health tick, and logs each outage once, when it starts and when it ends.
 */
class Link {
  readonly channels = new Set<Channel>();
  /** Channels whose SUBSCRIBE is in flight, with the generation that sent it. */
  private readonly pending = new Map<Channel, number>();
  private generation = 0;
  /** Channels subscribed again since the last `resubscribed` call. */
  private restored = 0;
  private probe?: NodeJS.Timeout;
  private downSince?: number;
  /** When the connection was last seen not ready (connecting, or running its ready check). */
  private notReadySince?: number;
  private failureLogged = false;
  private closing = false;

  constructor(
    readonly key: string,
    readonly where: string,
    readonly client: Redis,
    readonly sharded: boolean,
    private readonly owner: LinkOwner,
  ) {
    client.on('ready', () => this.subscribeMissing());
    client.on('close', () => this.dropped('connection closed'));
    client.on('error', (error: Error) => {
      // ioredis reports a reply it cannot match to a command this way, e.g. a SUNSUBSCRIBE that Redis
      // sent on its own because the slot moved: the subscriptions are not what we think; check them.
      if (error.message.startsWith('Command queue state error')) this.owner.troubled(this);
      else this.down(error.message);
    });
    client.on(sharded ? 'smessage' : 'message', (channel: string, message: string) => owner.deliver(this, channel, message));
    // A SSUBSCRIBE answered with MOVED (ioredis never settles that command): the slot map is stale.
    client.on('moved', () => {
      this.clearProbe();
      this.owner.troubled(this);
    });
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  get healthy(): boolean {
    return this.ready && this.downSince === undefined;
  }

  add(channel: Channel): void {
    this.channels.add(channel);
    channel.link = this;
    this.subscribeMissing();
  }

  remove(channel: Channel): void {
    this.channels.delete(channel);
    const inFlight = this.pending.delete(channel);
    if (channel.link === this) channel.link = undefined;
    if (channel.state === 'subscribed' || inFlight) {
      if (channel.state === 'subscribed') channel.state = 'lost';
      if (this.ready) {
        const unsubscribe = this.sharded ? this.client.sunsubscribe(channel.name) : this.client.unsubscribe(channel.name);
        unsubscribe.catch(() => undefined); // a dropped connection unsubscribes too
      }
    }
    this.settle();
  }

  /** Health tick: retries failed subscriptions, else checks that the connection answers and holds them. */
  check(): void {
    if (this.closing) return;
    if (!this.ready) {
      // A connection to a server that accepts connections but never answers (a frozen primary that the
      // sentinels still name, during their down-after period) stays connecting forever: start it over.
      const status = this.client.status;
      this.notReadySince ??= Date.now();
      if (status !== 'reconnecting' && status !== 'end' && Date.now() - this.notReadySince > 2 * this.owner.healthCheckTimeout) {
        this.notReadySince = Date.now();
        this.down(`not ready after ${2 * this.owner.healthCheckTimeout} ms (${status})`);
        this.client.disconnect(true);
      }
      return;
    }
    this.notReadySince = undefined;
    if (this.probe) return;
    if ([...this.channels].some((c) => c.state !== 'subscribed' && !this.pending.has(c))) {
      this.subscribeMissing();
      return;
    }
    const sample = [...this.channels].find((c) => c.state === 'subscribed');
    if (!sample) return;
    const expected = [...this.channels].filter((c) => c.state === 'subscribed' || this.pending.has(c)).length;
    const timeout = this.owner.healthCheckTimeout;
    const probe = setTimeout(() => {
      if (this.probe !== probe) return;
      this.probe = undefined;
      if (this.downSince === undefined) {
        this.downSince = Date.now();
        this.owner.logger.warn(messages.unresponsive(this.owner.name, this.where, timeout));
      }
      this.client.disconnect(true);
    }, timeout);
    probe.unref();
    this.probe = probe;
    // Subscribing to a channel it already has changes nothing in Redis, and the reply says how many
    // subscriptions of that kind the connection holds: one command checks both liveness and state.
    const command = this.sharded ? this.client.ssubscribe(sample.name) : this.client.subscribe(sample.name);
    command.then(
      (count) => {
        if (this.probe !== probe) return;
        this.clearProbe();
        if (Number(count) < expected && this.pending.size === 0) {
          this.owner.logger.warn(messages.subscriptionsDropped(this.owner.name, this.where, expected, Number(count)));
          for (const channel of this.channels) if (channel.state === 'subscribed') channel.state = 'lost';
          this.subscribeMissing();
        }
      },
      () => {
        if (this.probe === probe) this.clearProbe();
      },
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    this.clearProbe();
    await closeClient(this.client);
    // ioredis ends the socket and destroys it only 2 s later if the far end never answers (a dead or
    // half-open connection): destroy it now, so that a close never holds the process up.
    this.client.stream?.destroy();
  }

  /** Starts an outage in the log (once: later errors of the same outage are the retries'). */
  private down(reason: string): void {
    if (this.closing || this.downSince !== undefined) return;
    this.downSince = Date.now();
    this.owner.logger.warn(messages.connectionLost(this.owner.name, this.where, reason));
  }

  private dropped(reason: string): void {
    if (this.closing) return;
    this.clearProbe();
    this.pending.clear();
    for (const channel of this.channels) if (channel.state === 'subscribed') channel.state = 'lost';
    if (this.channels.size > 0) this.down(reason);
    this.owner.troubled(this);
  }

  private subscribeMissing(): void {
    if (this.closing || !this.ready) return;
    const missing = [...this.channels].filter((c) => c.state !== 'subscribed' && !this.pending.has(c));
    if (missing.length === 0) {
      this.settle();
      return;
    }
    // A sharded SUBSCRIBE takes channels of one slot only.
    const groups = new Map<number, Channel[]>();
    for (const channel of missing) {
      const group = this.sharded ? calculateSlot(channel.name) : 0;
      groups.set(group, [...(groups.get(group) ?? []), channel]);
    }
    for (const group of groups.values()) {
      for (let from = 0; from < group.length; from += SUBSCRIBE_CHUNK) this.send(group.slice(from, from + SUBSCRIBE_CHUNK));
    }
  }

  private send(batch: Channel[]): void {
    const generation = ++this.generation;
    for (const channel of batch) this.pending.set(channel, generation);
    const names = batch.map((c) => c.name);
    const command = this.sharded ? this.client.ssubscribe(...names) : this.client.subscribe(...names);
    command.then(
      () => {
        for (const channel of batch) {
          if (this.pending.get(channel) !== generation) continue;
          this.pending.delete(channel);
          if (!this.channels.has(channel)) continue;
          if (channel.state === 'lost') this.restored++;
          channel.state = 'subscribed';
          for (const waiter of channel.waiters.splice(0)) waiter.resolve();
        }
        this.settle();
      },
      (error: Error) => {
        const failed = batch.filter((c) => this.pending.get(c) === generation);
        for (const channel of failed) this.pending.delete(channel);
        // Failures of a dropped connection are the drop's; it is logged once, and subscribing starts over.
        if (failed.length > 0 && this.ready && !this.failureLogged) {
          this.failureLogged = true;
          this.owner.logger.warn(messages.subscribeFailed(names, error.message));
        }
      },
    );
  }

  /** Once every channel is subscribed: ends the outage in the log and reports what came back. */
  private settle(): void {
    if (this.pending.size > 0 || [...this.channels].some((c) => c.state !== 'subscribed')) return;
    this.failureLogged = false;
    if (this.downSince !== undefined) {
      this.owner.logger.log(messages.restored(this.owner.name, this.where, Date.now() - this.downSince, this.channels.size));
      this.downSince = undefined;
    }
    if (this.restored > 0) {
      this.restored = 0;
      this.owner.resubscribed();
    }
  }

  private clearProbe(): void {
    clearTimeout(this.probe);
    this.probe = undefined;
  }
}

/**
 * A process-wide Pub/Sub subscriber: one connection for every channel on one Redis or Sentinel; on
 * Redis Cluster one connection per primary that owns a subscribed hash-tagged channel (sharded Pub/Sub)
 * plus one for the other channels (classic Pub/Sub, which reaches every node). Listeners of a channel
 * share its one subscription.
 *
 * Pub/Sub is at-most-once: messages published while a connection is down are lost. After a connection
 * comes back (Redis restart, Sentinel or Cluster failover, a silently dead connection replaced by the
 * health check), the subscriber subscribes again and then calls the `onResubscribed` listeners, so that
 * they can look for what they missed. Connections open on the first `subscribe`.
 */
export class PubSub implements LinkOwner {
  readonly name: string;
  readonly logger: QueueLogger;
  readonly healthCheckTimeout: number;
  private readonly healthCheckInterval: number;
  private readonly cluster: boolean;
  private readonly channels = new Map<string, Channel>();
  private readonly links = new Map<string, Link>();
  private readonly resubscribedListeners = new Set<{ listener: () => void }>();
  private topology?: Cluster;
  private healthTimer?: NodeJS.Timeout;
  private refreshTimer?: NodeJS.Timeout;
  private lastRefresh = 0;
  private closed = false;

  constructor(private readonly settings: PubSubSettings) {
    this.name = settings.name;
    this.logger = settings.logger;
    this.healthCheckInterval = positive(settings.healthCheckInterval, 'healthCheckInterval', 5000);
    this.healthCheckTimeout = positive(settings.healthCheckTimeout, 'healthCheckTimeout', 5000);
    this.cluster = isClusterConnection(settings.connection);
  }

  /**
   * Calls `listener` with every message on `channel` from now on, until the returned function is
   * called. On Redis Cluster, a channel with a `{hash tag}` is subscribed with SSUBSCRIBE on the primary
   * that owns the tag's slot (publish it with SPUBLISH: `publish()` does), others with SUBSCRIBE.
   */
  subscribe(channel: string, listener: MessageListener): Unsubscribe {
    if (this.closed) throw new RedisQueueError(messages.closed());
    if (typeof channel !== 'string' || channel.length === 0) {
      throw new InvalidOptionError('channel', `must be a non-empty string (got ${describe(channel)})`);
    }
    if (typeof listener !== 'function') throw new InvalidOptionError('listener', `must be a function (got ${describe(listener)})`);
    let entry = this.channels.get(channel);
    if (!entry) {
      entry = { name: channel, sharded: this.cluster && hashTag(channel) !== undefined, listeners: new Set(), state: 'waiting', waiters: [] };
      this.channels.set(channel, entry);
      this.place(entry);
      this.startHealthChecks();
    }
    const handle = { listener };
    entry.listeners.add(handle);
    const subscribed = entry;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      subscribed.listeners.delete(handle);
      if (subscribed.listeners.size > 0 || this.channels.get(channel) !== subscribed) return;
      this.channels.delete(channel);
      subscribed.link?.remove(subscribed);
      for (const waiter of subscribed.waiters.splice(0)) waiter.reject(new RedisQueueError(messages.unsubscribedBeforeConfirmed(channel)));
      this.closeIdleLinks();
    };
  }

  /**
   * Calls `listener` each time subscriptions that had been lost (connection dropped, failover, slot
   * moved) are active again. Messages published meanwhile were lost: look for what they announced.
   */
  onResubscribed(listener: () => void): Unsubscribe {
    const handle = { listener };
    this.resubscribedListeners.add(handle);
    return () => void this.resubscribedListeners.delete(handle);
  }

  /** Resolves once Redis has confirmed the subscription of `channel` (at once if it has). */
  whenSubscribed(channel: string): Promise<void> {
    const entry = this.channels.get(channel);
    if (!entry) return Promise.reject(new RedisQueueError(`Pub/Sub channel "${channel}" has no listener`));
    if (entry.state === 'subscribed') return Promise.resolve();
    return new Promise((resolve, reject) => entry.waiters.push({ resolve, reject }));
  }

  /** Whether Redis has confirmed the subscription of `channel` and it has not been lost since (health checks). */
  isSubscribed(channel: string): boolean {
    return this.channels.get(channel)?.state === 'subscribed';
  }

  /** Channels with at least one listener. */
  subscribedChannels(): string[] {
    return [...this.channels.keys()];
  }

  /** Number of open subscriber connections (the slot-map client of a Cluster not counted). */
  get connectionCount(): number {
    return this.links.size;
  }

  /** Closes every connection and stops the health checks; listeners get nothing more. Never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.healthTimer);
    clearTimeout(this.refreshTimer);
    for (const entry of this.channels.values()) {
      for (const waiter of entry.waiters.splice(0)) waiter.reject(new RedisQueueError(messages.closed()));
    }
    this.channels.clear();
    this.resubscribedListeners.clear();
    const links = [...this.links.values()];
    this.links.clear();
    const topology = this.topology;
    this.topology = undefined;
    await Promise.all([...links.map((link) => link.close()), topology ? closeClient(topology) : undefined]);
  }

  /** @internal */
  deliver(link: Link, channel: string, message: string): void {
    const entry = this.channels.get(channel);
    // A channel moving between nodes may arrive on both for a moment: only its current link counts.
    if (!entry || entry.link !== link) return;
    for (const { listener } of [...entry.listeners]) {
      try {
        listener(message, channel);
      } catch (error) {
        this.logger.error(messages.listenerFailed(channel, (error as Error)?.message ?? String(error)), (error as Error)?.stack);
      }
    }
  }

  /** @internal */
  resubscribed(): void {
    for (const { listener } of [...this.resubscribedListeners]) {
      try {
        listener();
      } catch (error) {
        this.logger.error(messages.listenerFailed('(resubscribed)', (error as Error)?.message ?? String(error)), (error as Error)?.stack);
      }
    }
  }

  /** @internal */
  troubled(): void {
    if (this.cluster) this.requestRefresh();
  }

  private place(entry: Channel): void {
    if (!this.cluster) {
      this.link('main', () => newClient(this.settings.connection, this.clientSettings()) as Redis, false).add(entry);
      return;
    }
    const topology = this.clusterTopology();
    if (topology.status !== 'ready') return; // placed on 'ready'
    const node = this.nodeFor(entry, topology);
    if (node) this.clusterLink(node, entry.sharded).add(entry);
    else this.requestRefresh();
  }

  /** Cluster: puts every channel on the connection to the node that should carry it now. */
  private reconcile(): void {
    const topology = this.topology;
    if (this.closed || !topology || topology.status !== 'ready') return;
    for (const entry of this.channels.values()) {
      const node = this.nodeFor(entry, topology);
      if (!node || entry.link?.key === linkKey(node, entry.sharded)) continue;
      entry.link?.remove(entry);
      this.clusterLink(node, entry.sharded).add(entry);
    }
    this.closeIdleLinks();
  }

  /** The node (`host:port`) a channel belongs on: its slot's primary, or any node for a classic one. */
  private nodeFor(entry: Channel, topology: Cluster): string | undefined {
    if (entry.sharded) return topology.slots[calculateSlot(entry.name)]?.[0];
    const known = new Set(topology.nodes('all').map((n) => nodeKey(n.options)));
    const current = [...this.links.values()].find((l) => !l.sharded && l.channels.size > 0);
    if (current && known.has(current.key.slice(2))) return current.key.slice(2);
    const primaries = topology.nodes('master').map((n) => nodeKey(n.options));
    return primaries[0];
  }

  private clusterLink(node: string, sharded: boolean): Link {
    return this.link(linkKey(node, sharded), () => {
      const topology = this.topology!;
      const known = topology.nodes('all').find((n) => nodeKey(n.options) === node);
      const at = node.lastIndexOf(':');
      const options: RedisOptions = {
        ...(known?.options ?? topology.options.redisOptions),
        host: node.slice(0, at),
        port: Number(node.slice(at + 1)),
        ...roleOptions(this.clientSettings()),
        readOnly: false,
        lazyConnect: false,
      };
      return new Redis(options);
    }, sharded);
  }

  private link(key: string, create: () => Redis, sharded: boolean): Link {
    let link = this.links.get(key);
    if (!link) {
      const where = this.cluster ? `${sharded ? 'sharded' : 'classic'} ${key.slice(2)}` : describeConnection(this.settings.connection);
      link = new Link(key, where, create(), sharded, this);
      this.links.set(key, link);
    }
    return link;
  }

  private closeIdleLinks(): void {
    for (const [key, link] of this.links) {
      if (link.channels.size > 0) continue;
      this.links.delete(key);
      void link.close();
    }
  }

  /** Cluster: the client that knows the slot map (it sends no commands of its own while the map holds). */
  private clusterTopology(): Cluster {
    if (!this.topology) {
      const topology = createClient(this.settings.connection, {
        role: 'worker',
        name: `${this.name}:slots`,
        commandTimeout: 10_000,
        logger: this.logger,
      }) as Cluster;
      topology.on('ready', () => this.reconcile());
      topology.on('refresh', () => this.reconcile());
      this.topology = topology;
    }
    return this.topology;
  }

  private requestRefresh(): void {
    if (this.closed || !this.topology || this.refreshTimer) return;
    const wait = Math.max(0, this.lastRefresh + REFRESH_SPACING - Date.now());
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.lastRefresh = Date.now();
      this.topology?.refreshSlotsCache();
    }, wait);
    this.refreshTimer.unref();
  }

  private startHealthChecks(): void {
    if (this.healthTimer) return;
    this.healthTimer = setInterval(() => {
      for (const link of this.links.values()) link.check();
      if (this.cluster) {
        // While a connection is down or a channel has no node, look for a new slot map every tick.
        const unsettled = [...this.links.values()].some((l) => !l.healthy) || [...this.channels.values()].some((c) => !c.link);
        if (unsettled) this.requestRefresh();
      }
    }, this.healthCheckInterval);
    this.healthTimer.unref();
  }

  private clientSettings() {
    return { role: 'subscriber' as const, name: this.name, commandTimeout: 0 };
  }
}

function linkKey(node: string, sharded: boolean): string {
  return `${sharded ? 's' : 'c'}@${node}`;
}

function nodeKey(options: { host?: string; port?: number }): string {
  return `${options.host ?? '127.0.0.1'}:${options.port ?? 6379}`;
}

function positive(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(field, `must be a positive number of ms (got ${describe(value)})`);
  }
  return value;
}
