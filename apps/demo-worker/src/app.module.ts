import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { RedisQueueModule } from 'nestjs-redis-queue';
import { EmailHandlers } from './email.handlers.js';
import { Mailer } from './mailer.service.js';

/** The worker: runs the `@QueueHandler` methods of its providers (here `EmailHandlers`). */
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
  ],
  providers: [Mailer, EmailHandlers],
})
export class AppModule {}
