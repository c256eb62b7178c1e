import { SetMetadata, Type } from '@nestjs/common';
import { JobContext, JobDefaults } from './engine/index.js';
import { QUEUE_HANDLER_METADATA } from './redis-queue.constants.js';

/** Options of `@QueueHandler`. */
export interface QueueHandlerOptions extends JobDefaults {
  /** Jobs of this queue this process runs at once, at most (exactly honoured). Default: 1. */
  concurrency?: number;
  /**
   * Class the payload is transformed into and validated against (class-validator). Default: the type of
   * the method's first parameter, when it is a class with class-validator decorators.
   */
  payloadType?: Type<object>;
  /** Validate payloads before the method runs. Default: the module's `validation` (true). */
  validate?: boolean;
}

export interface QueueHandlerMetadata {
  queue: string;
  options: QueueHandlerOptions;
}

/** The shape a handler method must have: `(payload, job) => unknown` (usually a Promise). */
export type QueueHandlerMethod<T> = (payload: T, job: JobContext) => unknown;

/**
 * Marks a provider method as the handler of `queue`. It receives `(payload, job: JobContext)`; when it
 * throws, the job is retried with backoff; `throw new PermanentJobError(...)` dead-letters it at once.
 *
 * @example
 * ```ts
 * @QueueHandler('email', { concurrency: 20 })
 * async send(payload: WelcomeEmail, job: JobContext) { ... }
 * ```
 */
export function QueueHandler<T = any>( // eslint-disable-line @typescript-eslint/no-explicit-any
  queue: string,
  options: QueueHandlerOptions = {},
): <M extends QueueHandlerMethod<T>>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<M>) => void {
  const metadata: QueueHandlerMetadata = { queue, options };
  return SetMetadata(QUEUE_HANDLER_METADATA, metadata) as never;
}
