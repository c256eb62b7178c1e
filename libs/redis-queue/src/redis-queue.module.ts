import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { QueueAdmin, QueueInspector } from './engine/index.js';
import { BroadcastExplorer } from './broadcast.explorer.js';
import { HandlerExplorer } from './handler.explorer.js';
import { PayloadValidator } from './payload.validator.js';
import { QueueEventExplorer } from './queue-event.explorer.js';
import { QueueProducer } from './queue.producer.js';
import { REDIS_QUEUE_RESOLVED_OPTIONS } from './redis-queue.constants.js';
import { RedisQueueConnections } from './redis-queue.connections.js';
import { ConfigurableRedisQueueModule, REDIS_QUEUE_MODULE_OPTIONS } from './redis-queue.module-definition.js';
import { resolveOptions, ResolvedRedisQueueOptions } from './redis-queue.options.js';
import { WorkerHost } from './worker.host.js';
import { createInstrumentation, RedisQueueInstrumentation } from './redis-queue.instrumentation.js';
import { RedisQueueHealthIndicator } from './health/redis-queue.health-indicator.js';

/**
 * Redis job queues for Nest. `RedisQueueModule.forRoot(options)` or `forRootAsync({ useFactory, inject })`;
 * then inject `QueueProducer` and mark handler methods with `@QueueHandler(queue)`.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: REDIS_QUEUE_RESOLVED_OPTIONS,
      useFactory: resolveOptions,
      inject: [REDIS_QUEUE_MODULE_OPTIONS],
    },
    {
      provide: QueueInspector,
      useFactory: (connections: RedisQueueConnections, options: ResolvedRedisQueueOptions) =>
        new QueueInspector(() => connections.producer(), options.prefix, { timeout: options.commandTimeout }),
      inject: [RedisQueueConnections, REDIS_QUEUE_RESOLVED_OPTIONS],
    },
    {
      provide: QueueAdmin,
      useFactory: (connections: RedisQueueConnections, options: ResolvedRedisQueueOptions) =>
        new QueueAdmin(() => connections.producer(), options.prefix, { timeout: options.commandTimeout }),
      inject: [RedisQueueConnections, REDIS_QUEUE_RESOLVED_OPTIONS],
    },
    {
      provide: RedisQueueInstrumentation,
      useFactory: createInstrumentation,
      inject: [REDIS_QUEUE_RESOLVED_OPTIONS],
    },
    RedisQueueConnections,
    PayloadValidator,
    QueueProducer,
    HandlerExplorer,
    WorkerHost,
    BroadcastExplorer,
    QueueEventExplorer,
    RedisQueueHealthIndicator,
  ],
  // The instrumentation, connections and worker host are for the library's own modules (dashboard, metrics).
  exports: [QueueProducer, QueueInspector, QueueAdmin, RedisQueueHealthIndicator, RedisQueueInstrumentation, RedisQueueConnections, WorkerHost],
})
export class RedisQueueModule extends ConfigurableRedisQueueModule {}
