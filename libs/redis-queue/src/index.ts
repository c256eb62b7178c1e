export { RedisQueueModule } from './redis-queue.module.js';
export { QueueProducer } from './queue.producer.js';
export { QueueHandler } from './queue-handler.decorator.js';
export { BroadcastHandler } from './broadcast-handler.decorator.js';
export { OnQueueEvent } from './queue-event.decorator.js';
export type { QueueEventMethod } from './queue-event.decorator.js';
export type { BroadcastHandlerMethod, BroadcastHandlerOptions } from './broadcast-handler.decorator.js';
export type { QueueHandlerDecorator, QueueHandlerMethod } from './queue-handler.decorator.js';
export type { QueueHandlerOptions, QueueOverrides } from './queue-handler.options.js';
export type { ClassValidatorOptions, RedisQueueModuleOptions } from './redis-queue.options.js';
export { REDIS_QUEUE_MODULE_OPTIONS } from './redis-queue.module-definition.js';
export { RedisQueueMetricsModule } from './metrics/redis-queue-metrics.module.js';
export { RedisQueueMetrics } from './metrics/redis-queue.metrics.js';
export type { MetricsRegistry, RedisQueueMetricsOptions } from './metrics/redis-queue.metrics.js';
export { RedisQueueHealthIndicator } from './health/redis-queue.health-indicator.js';
export type {
  QueueHealthOptions,
  QueueHealthResult,
  QueueHealthStatus,
  QueueHealthThresholds,
  WorkerLoopStatus,
} from './health/redis-queue.health-indicator.js';
export {
  defineQueue,
  InvalidOptionError,
  InvalidPayloadError,
  JobCancelledError,
  JobContext,
  JobDeadLetteredError,
  JobTimeoutError,
  LeaseLostError,
  MalformedJobError,
  MissingPackageError,
  PayloadValidationError,
  PermanentJobError,
  QueueAdmin,
  QueueInspector,
  queueName,
  RateLimitedError,
  RedisOutOfMemoryError,
  RedisQueueError,
  RedisUnavailableError,
  ReplicationTimeoutError,
  ShutdownAbortError,
  WaitTimeoutError,
} from './engine/index.js';
export type {
  BackoffOptions,
  BroadcastMessage,
  BulkJob,
  CancelResult,
  ClusterConnection,
  DeadJob,
  EnqueueOptions,
  JobDefaults,
  JobInfo,
  JobPage,
  JobState,
  JobSummary,
  ListedState,
  Page,
  PayloadClass,
  QueueCounts,
  QueueDefinition,
  QueueEvent,
  QueueEventName,
  QueueOverview,
  QueueRef,
  QueueRules,
  RateLimit,
  ScheduleInfo,
  ScheduleSpec,
  WorkerInfo,
  RedisConnection,
  ReplicationOptions,
  UrlConnection,
} from './engine/index.js';
