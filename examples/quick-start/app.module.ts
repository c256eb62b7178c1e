import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { RedisQueueModule } from 'nestjs-redis-queue';
import { EmailHandlers } from './email.handlers.js';
import { Mailer } from './mailer.js';
import { UsersController } from './users.controller.js';

@Module({
  imports: [
    ConfigModule.forRoot(),
    RedisQueueModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        connection: config.getOrThrow<string>('REDIS_URL'), // redis:// or rediss:// URL, or ioredis options
        prefix: config.get<string>('QUEUE_PREFIX', 'rq'), // key namespace
        consumers: true, // false: producer-only app, no worker loops
        defaults: { attempts: 5, backoff: { type: 'exponential', delay: 1000 } },
        shutdownTimeout: 10_000, // ms to let in-flight jobs finish
      }),
    }),
  ],
  controllers: [UsersController],
  providers: [EmailHandlers, Mailer],
})
export class AppModule {}
