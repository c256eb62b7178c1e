/** Metadata key of `@QueueHandler` (namespaced, so it never collides with other libraries). */
export const QUEUE_HANDLER_METADATA = 'redis-queue:handler';

/** Metadata key of `@BroadcastHandler`. */
export const BROADCAST_HANDLER_METADATA = 'redis-queue:broadcast-handler';

/** Metadata key of `@OnQueueEvent`. */
export const QUEUE_EVENT_METADATA = 'redis-queue:event-listener';

/** DI token of the options after defaults are merged and every field is checked. */
export const REDIS_QUEUE_RESOLVED_OPTIONS = Symbol('REDIS_QUEUE_RESOLVED_OPTIONS');

/** Name of the Logger every message of the module goes through. */
export const REDIS_QUEUE_LOGGER = 'RedisQueue';
