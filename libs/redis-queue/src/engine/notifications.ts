import type { MessageListener, Unsubscribe } from './pubsub.js';

/**
 * What a worker needs of its process's Pub/Sub subscriber (`PubSub`) to hear its queue's channel
 * (`<prefix>:{queue}:notify`, see keys.ts): the scripts publish `w` (something is claimable), `t<ms>` (a
 * delayed job is due earlier than announced), `c<id>` (cancel a running job), `e` (events appended),
 * `d<id>` (a tracked job finished). Pub/Sub loses messages while a connection is down, so after it comes
 * back every `onResubscribed` listener runs and looks again.
 */
export interface QueueNotifications {
  subscribe(channel: string, listener: MessageListener): Unsubscribe;
  /** Resolves once the channel's subscription is in place (what was published before was not heard). */
  whenSubscribed(channel: string): Promise<void>;
  onResubscribed(listener: () => void): Unsubscribe;
}
