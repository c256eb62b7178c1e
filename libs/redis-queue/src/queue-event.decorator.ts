import { SetMetadata } from '@nestjs/common';
import { QueueRef, queueName } from './engine/index.js';
import type { QueueEvent, QueueEventName } from './engine/index.js';
import { QUEUE_EVENT_METADATA } from './redis-queue.constants.js';

export interface QueueEventMetadata {
  queue: string;
  event: QueueEventName | '*';
}

/** The shape an event listener method must have. */
export type QueueEventMethod = (event: QueueEvent) => unknown;

/**
 * Marks a provider method as a listener of a queue's lifecycle events, in any app of the deployment:
 * events travel through Redis, so an API app hears about jobs a worker app ran. `event`: `completed`,
 * `failed` (an attempt failed and will be retried), `dead`, `progress`, `cancelled`, or `'*'` for all.
 * `queue` is a name or a `defineQueue` token.
 * Workers write events only while some app listens, so queues nobody listens to pay nothing for them.
 * A listener that throws is logged; the next event still comes.
 *
 * @example
 * ```ts
 * @OnQueueEvent('report', 'completed')
 * onReport(event: QueueEvent) { this.sockets.notify(event.id, event.result); }
 * ```
 */
export function OnQueueEvent(
  queue: string | QueueRef,
  event: QueueEventName | '*',
): <M extends QueueEventMethod>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<M>) => void {
  const metadata: QueueEventMetadata = { queue: queueName(queue), event };
  return SetMetadata(QUEUE_EVENT_METADATA, metadata) as never;
}
