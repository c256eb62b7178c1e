import { InvalidOptionError } from './errors.js';
import { notifyChannel, queueKeyList, queueKeys } from './keys.js';
import { QueueLogger } from './logger.js';
import { QueueNotifications } from './notifications.js';
import { RedisClient } from './redis-client.js';
import { packArgs, withScripts } from './scripts.js';

/** Lifecycle events of jobs. `failed`: an attempt failed and the job will be retried. */
export const QUEUE_EVENTS = ['completed', 'failed', 'dead', 'progress', 'cancelled'] as const;
export type QueueEventName = (typeof QUEUE_EVENTS)[number];

/** One lifecycle event of a job, as any process hears it. */
export interface QueueEvent {
  event: QueueEventName;
  queue: string;
  id: string;
  /** When it happened (Redis clock). */
  at: Date;
  /** failed: the attempt that failed. */
  attempt?: number;
  /** completed: the handler's return value (tracked jobs keep results). */
  result?: unknown;
  /** failed, dead: the error. */
  error?: { name: string; message: string; stack?: string };
  /** progress: the value the handler reported. */
  progress?: unknown;
}

export type QueueEventListener = (event: QueueEvent) => unknown;

export interface QueueEventsSettings {
  /** Connection for commands (reads of the events stream, listener registration). */
  client: RedisClient;
  /** The process's Pub/Sub subscriber: scripts announce appended events on the queue's channel. */
  notifications: QueueNotifications;
  prefix: string;
  logger: QueueLogger;
}

/** Listeners stay registered in Redis this long without a refresh; refreshed every third of it. */
const LISTEN_FOR_MS = 60_000;
/** Events read in one call. */
const READ_COUNT = 500;

interface QueueStream {
  listeners: Map<QueueEventName | '*', Set<QueueEventListener>>;
  /** The last stream id read; '' until the starting point is known. */
  lastId: string;
  reading?: Promise<void>;
  started?: Promise<void>;
  again: boolean;
  stop: Array<() => void>;
}

/**
 * Delivers lifecycle events from Redis to listeners in this process, whichever process ran the jobs.
 * Workers write events to the queue's bounded stream (`events`, about the last 10,000) only while some
 * process listens: this class registers its listeners in the queue's meta hash (refreshed every 20 s),
 * so events nobody listens to cost nothing. Each listening process hears every event once, from the
 * moment it started listening; after an outage of its subscriber it reads on from where it was.
 */
export class QueueEvents {
  private readonly streams = new Map<string, QueueStream>();
  private refresh?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly settings: QueueEventsSettings) {}

  /** Listens to `event` (or every event with '*') of `queue`; returns the function that stops it. */
  on(queue: string, event: QueueEventName | '*', listener: QueueEventListener): () => void {
    if (event !== '*' && !(QUEUE_EVENTS as readonly string[]).includes(event)) {
      throw new InvalidOptionError('event', `must be one of ${QUEUE_EVENTS.join(', ')} or '*' (got "${String(event)}")`);
    }
    const stream = this.streamOf(queue);
    let set = stream.listeners.get(event);
    if (!set) stream.listeners.set(event, (set = new Set()));
    set.add(listener);
    stream.started ??= this.begin(queue);
    return () => set!.delete(listener);
  }

  /** Resolves once every queue listened to is subscribed and registered (events from then on are heard). */
  async ready(): Promise<void> {
    await Promise.all([...this.streams.values()].map((stream) => stream.started));
  }

  /** Subscribed first, then the stream's current end, then registered: every event from then on is heard. */
  private async begin(queue: string): Promise<void> {
    try {
      await this.settings.notifications.whenSubscribed(notifyChannel(this.settings.prefix, queue));
      await this.startingPoint(queue);
    } catch (error) {
      this.settings.logger.warn(`Queue "${queue}": could not start listening to events (${(error as Error).message}); retrying`);
    }
    await this.register(queue);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.refresh);
    for (const stream of this.streams.values()) for (const stop of stream.stop) stop();
    await Promise.all([...this.streams.values()].map((s) => s.reading));
    this.streams.clear();
  }

  private streamOf(queue: string): QueueStream {
    let stream = this.streams.get(queue);
    if (stream) return stream;
    stream = { listeners: new Map(), lastId: '', again: false, stop: [] };
    this.streams.set(queue, stream);
    const { notifications, prefix } = this.settings;
    const channel = notifyChannel(prefix, queue);
    stream.stop.push(
      notifications.subscribe(channel, (message) => {
        if (message === 'e') this.read(queue);
      }),
      notifications.onResubscribed(() => this.read(queue)),
    );
    if (!this.refresh) {
      this.refresh = setInterval(() => {
        for (const q of this.streams.keys()) void this.register(q);
      }, LISTEN_FOR_MS / 3);
      this.refresh.unref();
    }
    return stream;
  }

  /** Tells the queue's workers which events this process listens to. */
  private async register(queue: string): Promise<void> {
    const stream = this.streams.get(queue);
    if (!stream || this.closed) return;
    const names = stream.listeners.has('*') ? [...QUEUE_EVENTS] : ([...stream.listeners.keys()] as QueueEventName[]);
    if (names.length === 0) return;
    const client = withScripts(this.settings.client);
    try {
      await client.rqConfigure(...queueKeyList(this.settings.prefix, queue), packArgs(client, { listen: names, listenFor: LISTEN_FOR_MS }));
    } catch (error) {
      this.settings.logger.warn(`Queue "${queue}": could not register event listeners (${(error as Error).message}); retrying`);
    }
  }

  /** The id events are read after: the stream's last one when listening starts. */
  private async startingPoint(queue: string): Promise<void> {
    const stream = this.streams.get(queue);
    if (!stream || stream.lastId) return;
    const last = await this.settings.client.xrevrange(queueKeys(this.settings.prefix, queue).events, '+', '-', 'COUNT', 1);
    if (!stream.lastId) stream.lastId = last[0]?.[0] ?? '0-0';
  }

  private read(queue: string): void {
    const stream = this.streams.get(queue);
    if (!stream || this.closed) return;
    if (stream.reading) {
      stream.again = true;
      return;
    }
    stream.reading = this.drain(queue, stream).finally(() => {
      stream.reading = undefined;
      if (stream.again) {
        stream.again = false;
        this.read(queue);
      }
    });
  }

  private async drain(queue: string, stream: QueueStream): Promise<void> {
    try {
      await this.startingPoint(queue);
      const key = queueKeys(this.settings.prefix, queue).events;
      for (;;) {
        const reply = (await this.settings.client.xread('COUNT', READ_COUNT, 'STREAMS', key, stream.lastId)) as
          | Array<[string, Array<[string, string[]]>]>
          | null;
        const entries = reply?.[0]?.[1] ?? [];
        for (const [id, fields] of entries) {
          stream.lastId = id;
          await this.dispatch(queue, stream, parseEvent(queue, fields));
        }
        if (entries.length < READ_COUNT || this.closed) return;
      }
    } catch (error) {
      this.settings.logger.warn(`Queue "${queue}": could not read events (${(error as Error).message}); reading on at the next notification`);
    }
  }

  private async dispatch(queue: string, stream: QueueStream, event: QueueEvent | undefined): Promise<void> {
    if (!event) return;
    const listeners = [...(stream.listeners.get(event.event) ?? []), ...(stream.listeners.get('*') ?? [])];
    for (const listener of listeners) {
      try {
        await listener(event);
      } catch (error) {
        this.settings.logger.error(`Queue "${queue}": an event listener for "${event.event}" threw: ${(error as Error).message}`, (error as Error).stack);
      }
    }
  }
}

function parseEvent(queue: string, fields: string[]): QueueEvent | undefined {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
  if (!(QUEUE_EVENTS as readonly string[]).includes(f.event) || !f.id) return undefined;
  const event: QueueEvent = { event: f.event as QueueEventName, queue, id: f.id, at: new Date(Number(f.at)) };
  const json = (text: string | undefined): unknown => {
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  };
  if (f.attempt !== undefined) event.attempt = Number(f.attempt);
  if (f.result !== undefined) event.result = json(f.result);
  if (f.progress !== undefined) event.progress = json(f.progress);
  if (f.error !== undefined) {
    const e = json(f.error) as { name?: string; message?: string; stack?: string } | undefined;
    if (e && typeof e === 'object') event.error = { name: e.name ?? 'Error', message: e.message ?? '', ...(e.stack ? { stack: e.stack } : {}) };
  }
  return event;
}
