export { RedisQueueModule } from './redis-queue.module.js';
export { QueueProducer } from './queue.producer.js';
export { QueueHandler } from './queue-handler.decorator.js';
export { BroadcastHandler } from './broadcast-handler.decorator.js';
export type { BroadcastHandlerMethod, BroadcastHandlerOptions } from './broadcast-handler.decorator.js';
export type { QueueHandlerOptions, QueueHandlerMethod } from './queue-handler.decorator.js';
export type { RedisQueueModuleOptions } from './redis-queue.options.js';
export { REDIS_QUEUE_MODULE_OPTIONS } from './redis-queue.module-definition.js';
export {
  InvalidOptionError,
  InvalidPayloadError,
  JobContext,
  LeaseLostError,
  MalformedJobError,
  PayloadValidationError,
  PermanentJobError,
  QueueInspector,
  RedisQueueError,
  RedisUnavailableError,
  ReplicationTimeoutError,
  ShutdownAbortError,
} from './engine/index.js';
export type {
  BackoffOptions,
  BroadcastMessage,
  BulkJob,
  ClusterConnection,
  DeadJob,
  EnqueueOptions,
  JobDefaults,
  QueueCounts,
  RedisConnection,
  ReplicationOptions,
  UrlConnection,
} from './engine/index.js';
