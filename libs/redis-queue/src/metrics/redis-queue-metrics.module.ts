import { DynamicModule, Module } from '@nestjs/common';
import { RedisQueueMetrics, RedisQueueMetricsOptions, REDIS_QUEUE_METRICS_OPTIONS } from './redis-queue.metrics.js';

/**
 * Prometheus metrics of the queues: `RedisQueueMetricsModule.forRoot({ registry? })` beside
 * `RedisQueueModule`. Needs the `prom-client` package.
 */
@Module({})
export class RedisQueueMetricsModule {
  static forRoot(options: RedisQueueMetricsOptions = {}): DynamicModule {
    return {
      module: RedisQueueMetricsModule,
      providers: [{ provide: REDIS_QUEUE_METRICS_OPTIONS, useValue: options }, RedisQueueMetrics],
      exports: [RedisQueueMetrics],
    };
  }
}
