import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { RedisQueueMetricsModule, RedisQueueModule } from 'nestjs-redis-queue';
import { EmailHandlers } from './email.handlers.js';
import { HealthController } from './health.controller.js';
import { Mailer } from './mailer.service.js';

/**
 * The worker: runs the `@QueueHandler` methods of its providers (here `EmailHandlers`), and serves its
 * metrics (GET /metrics, Prometheus) and health (GET /health, terminus) for the platform that runs it.
 */
@Module({
  imports: [
    ConfigModule.forRoot(),
    RedisQueueModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        connection: config.getOrThrow<string>('REDIS_URL'),
        prefix: config.get<string>('QUEUE_PREFIX', 'rq'),
        // On SIGTERM: stop claiming, give running jobs this long, put the rest back in the queue.
        shutdownTimeout: 10_000,
      }),
    }),
    PrometheusModule.register(),
    RedisQueueMetricsModule.forRoot(),
    TerminusModule.forRoot({ logger: false }),
  ],
  controllers: [HealthController],
  providers: [Mailer, EmailHandlers],
})
export class AppModule {}
