import { SetMetadata } from '@nestjs/common';
import { JobContext, QueueRef } from './engine/index.js';
import { QUEUE_HANDLER_METADATA } from './redis-queue.constants.js';
import type { QueueHandlerOptions } from './queue-handler.options.js';

export type { QueueHandlerOptions } from './queue-handler.options.js';

export interface QueueHandlerMetadata {
  /** The queue as the decorator was given it: a name or a `QueueRef` (whose validator applies). */
  queue: string | QueueRef;
  options: QueueHandlerOptions;
}

/** The shape a handler method must have: `(payload, job) => unknown` (usually a Promise). */
export type QueueHandlerMethod<T> = (payload: T, job: JobContext) => unknown;

/** What `@QueueHandler` returns: a method decorator that only fits methods able to take a `T` payload. */
export type QueueHandlerDecorator<T> = <M extends QueueHandlerMethod<T>>(
  target: object,
  key: string | symbol,
  descriptor: TypedPropertyDescriptor<M>,
) => void;

/**
 * Marks a provider method as the handler of `queue`. It receives `(payload, job: JobContext)`; when it
 * throws, the job is retried with backoff; `throw new PermanentJobError(...)` dead-letters it at once.
 *
 * Given a `QueueRef` (from `defineQueue`), or a `schema` / `payloadType` option, the method's payload parameter
 * must accept that type: a mismatch is a compile error. Given a plain name, any parameter type compiles.
 *
 * @example
 * ```ts
 * @QueueHandler(EmailQueue, { concurrency: 20 })
 * async send(payload: WelcomeEmail, job: JobContext) { ... }
 * ```
 */
export function QueueHandler<T = never>(
  queue: string | QueueRef<T, unknown>,
  options: QueueHandlerOptions<T> = {},
): QueueHandlerDecorator<T> {
  const metadata: QueueHandlerMetadata = { queue, options: options as QueueHandlerOptions };
  return SetMetadata(QUEUE_HANDLER_METADATA, metadata) as never;
}
