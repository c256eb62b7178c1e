import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { RedisQueueModule, RedisQueueModuleOptions } from 'nestjs-redis-queue';
import { ReportHandlers } from './report.handlers.js';
import { ReportOutbox } from './report.outbox.js';
import { ReportsService } from './reports.service.js';

@Module({
  imports: [
    RedisQueueModule.forRootAsync({
      imports: [ConfigModule.forRoot()],
      inject: [ConfigService],
      useFactory: (config: ConfigService): RedisQueueModuleOptions => ({
        connection: config.getOrThrow<string>('REDIS_URL'),
        prefix: config.get<string>('QUEUE_PREFIX', 'rq'),
        // QUEUES=reports runs only the report builder in this deployment; unset, every handler runs.
        consumers: config.get<string>('QUEUES')?.split(',') ?? true,
        // Tuned per deployment, over what the decorators say.
        queues: {
          reports: {
            concurrency: Number(config.get('REPORTS_CONCURRENCY', 2)),
            attempts: Number(config.get('REPORTS_ATTEMPTS', 5)),
          },
        },
      }),
    }),
  ],
  providers: [ReportsService, ReportHandlers, ReportOutbox],
})
export class ReportsModule {}
