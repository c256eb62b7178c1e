import { Module } from '@nestjs/common';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { RedisQueueMetricsModule, RedisQueueModule } from 'nestjs-redis-queue';

// GET /metrics serves the queue metrics beside the app's own: both use prom-client's global registry.
@Module({
  imports: [
    RedisQueueModule.forRoot({ connection: process.env.REDIS_URL!, prefix: process.env.QUEUE_PREFIX ?? 'rq' }),
    PrometheusModule.register(),
    RedisQueueMetricsModule.forRoot(),
  ],
})
export class MetricsAppModule {}
