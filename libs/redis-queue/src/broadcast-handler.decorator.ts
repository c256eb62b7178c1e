import { SetMetadata, Type } from '@nestjs/common';
import { BroadcastMessage } from './engine/index.js';
import { BROADCAST_HANDLER_METADATA } from './redis-queue.constants.js';

/** Options of `@BroadcastHandler`. */
export interface BroadcastHandlerOptions {
  /**
   * Class the payload is transformed into and validated against (class-validator) before the method
   * runs; an invalid broadcast is logged and the method does not run. Default: the type of the method's
   * first parameter, when it is a class with class-validator decorators.
   */
  payloadType?: Type<object>;
  /** Validate payloads before the method runs. Default: the module's `validation` (true). */
  validate?: boolean;
}

export interface BroadcastHandlerMetadata {
  channel: string;
  options: BroadcastHandlerOptions;
}

/** The shape a broadcast handler must have: `(payload, message) => unknown` (usually a Promise). */
export type BroadcastHandlerMethod<T> = (payload: T, message: BroadcastMessage<T>) => unknown;

/**
 * Marks a provider method as a handler of broadcasts on `channel`, sent with `QueueProducer.broadcast`.
 * Every app instance subscribed when a broadcast is sent runs its handlers once: at-most-once, as Redis
 * Pub/Sub is (an instance that is down or reconnecting misses it), so use it for notices such as cache
 * invalidation or config reload, never for work that must happen (that is what jobs are for). A handler
 * that throws is logged; the next broadcast runs it again. Handlers run in every app, whatever
 * `consumers` says.
 *
 * @example
 * ```ts
 * @BroadcastHandler('config-changed')
 * reload(payload: { key: string }) { ... }
 * ```
 */
export function BroadcastHandler<T = any>( // eslint-disable-line @typescript-eslint/no-explicit-any
  channel: string,
  options: BroadcastHandlerOptions = {},
): <M extends BroadcastHandlerMethod<T>>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<M>) => void {
  const metadata: BroadcastHandlerMetadata = { channel, options };
  return SetMetadata(BROADCAST_HANDLER_METADATA, metadata) as never;
}
