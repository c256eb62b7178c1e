import { RedisClient } from './redis-client.js';

/**
 * A process's one subscription to the queues' channels (`<prefix>:{queue}:notify`, see keys.ts): the
 * scripts publish `w` (something is claimable), `t<ms>` (a delayed job is due earlier than announced),
 * `c<id>` (cancel a running job), `e` (events appended), `d<id>` (a tracked job finished). Pub/Sub loses
 * messages while the connection is down, so after it comes back every `onResubscribed` listener runs and
 * looks again.
 */
export interface QueueNotifications {
  /**
   * Listens to one channel. `ready` resolves once the subscription is in place: what was published
   * before then was not heard, so a listener looks again at that point.
   */
  listen(channel: string, listener: (message: string) => void): Subscription;
  /** Runs `listener` after the subscription came back from an outage; returns the function that stops it. */
  onResubscribed(listener: () => void): () => void;
}

/** One listener's subscription to a channel. */
export interface Subscription {
  readonly ready: Promise<void>;
  close(): void;
}

/** QueueNotifications over one ioredis connection in subscriber mode (sharded Pub/Sub). */
export class NotificationHub implements QueueNotifications {
  private readonly listeners = new Map<string, Set<(message: string) => void>>();
  private readonly subscribed = new Map<string, Promise<void>>();
  private readonly resubscribed = new Set<() => void>();
  private everReady = false;
  private closed = false;

  constructor(private readonly client: RedisClient) {
    client.on('smessage', (channel: string, message: string) => {
      const set = this.listeners.get(channel);
      if (set) for (const listener of [...set]) listener(message);
    });
    client.on('ready', () => {
      // ioredis subscribes again by itself after a reconnect; what was published meanwhile is lost.
      if (this.everReady) for (const listener of [...this.resubscribed]) listener();
      this.everReady = true;
    });
  }

  listen(channel: string, listener: (message: string) => void): Subscription {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      // Until it is in place nothing is heard; failing, ioredis subscribes again once it reconnects.
      this.subscribed.set(channel, this.client.ssubscribe(channel).then(() => undefined, () => undefined));
    }
    set.add(listener);
    return {
      ready: this.subscribed.get(channel) ?? Promise.resolve(),
      close: () => {
        const current = this.listeners.get(channel);
        if (!current) return;
        current.delete(listener);
        if (current.size === 0 && !this.closed) {
          this.listeners.delete(channel);
          this.subscribed.delete(channel);
          void this.client.sunsubscribe(channel).catch(() => undefined);
        }
      },
    };
  }

  onResubscribed(listener: () => void): () => void {
    this.resubscribed.add(listener);
    return () => this.resubscribed.delete(listener);
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.resubscribed.clear();
    this.client.disconnect();
  }
}
