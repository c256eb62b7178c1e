import { Module, ValidationPipe } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_PIPE } from '@nestjs/core';
import { RedisQueueModule } from 'nestjs-redis-queue';
import { RedisQueueDashboardModule } from 'nestjs-redis-queue/dashboard';
import { DemoDashboardGuard } from './dashboard.guard.js';
import { HealthController } from './health.controller.js';
import { UsersController } from './users.controller.js';

/** The API: produces jobs only (`consumers: false`); the worker app runs them. GET /queues: the dashboard. */
@Module({
  imports: [
    ConfigModule.forRoot(),
    RedisQueueModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        connection: config.getOrThrow<string>('REDIS_URL'),
        prefix: config.get<string>('QUEUE_PREFIX', 'rq'),
        consumers: false,
      }),
    }),
    RedisQueueDashboardModule.forRoot({ path: 'queues', guards: [DemoDashboardGuard] }),
  ],
  controllers: [UsersController, HealthController],
  providers: [
    {
      // Provided by the module rather than in main.ts, so that tests that build this module get it too.
      provide: APP_PIPE,
      useValue: new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }),
    },
  ],
})
export class AppModule {}
