import { INestApplication, LoggerService, Module, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { RedisQueueModule } from 'nestjs-redis-queue';
import { RedisQueueDashboardModule, RedisQueueDashboardOptions } from 'nestjs-redis-queue/dashboard';
import { OpsTokenGuard } from '../../examples/operations/dashboard.module.js';
import { redisUrl } from './helpers.js';

export type Platform = 'express' | 'fastify';

/** Keeps what the app logged, to check the dashboard's action lines. */
export class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log(message: unknown, context?: string) {
    this.lines.push(`${context ?? ''}: ${String(message)}`);
  }
  warn(message: unknown, context?: string) {
    this.lines.push(`${context ?? ''}: ${String(message)}`);
  }
  error(message: unknown, ...rest: unknown[]) {
    this.lines.push(`error: ${String(message)} ${rest.join(' ')}`);
  }
}

export interface DashboardApp {
  app: INestApplication;
  url: string;
  logger: CapturingLogger;
  close(): Promise<void>;
}

/** An HTTP app on the platform given, listening on a free port, with the dashboard and the example guard. */
export async function startDashboardApp(
  platform: Platform,
  prefix: string,
  options: RedisQueueDashboardOptions = {},
  setup: (app: INestApplication) => void = () => undefined,
  root?: Type,
): Promise<DashboardApp> {
  @Module({
    imports: [
      RedisQueueModule.forRoot({ connection: redisUrl(), prefix, checkRedisConfig: false, consumers: false }),
      RedisQueueDashboardModule.forRoot({ path: 'queues', guards: [OpsTokenGuard], refreshInterval: 200, ...options }),
    ],
  })
  class AppModule {}
  const logger = new CapturingLogger();
  const app = platform === 'fastify'
    ? await NestFactory.create(root ?? AppModule, new FastifyAdapter(), { logger })
    : await NestFactory.create(root ?? AppModule, { logger });
  setup(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}`, logger, close: () => app.close() };
}
