import { Module } from '@nestjs/common';
import { RedisQueueModule } from 'nestjs-redis-queue';
import { ReportHandlers } from './report.handlers.js';
import { ReportStore } from './report.store.js';

@Module({
  imports: [
    // useFactory reads the environment when the app starts, not when this file is imported.
    RedisQueueModule.forRootAsync({
      useFactory: () => ({
        connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
        prefix: process.env.QUEUE_PREFIX ?? 'rq',
      }),
    }),
  ],
  providers: [ReportHandlers, ReportStore],
})
export class AppModule {}
