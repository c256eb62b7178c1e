import { INestApplicationContext, Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { QueueInspector, QueueProducer, RedisQueueModule, RedisQueueModuleOptions } from 'nestjs-redis-queue';
import { redisUrl, uniquePrefix } from './helpers.js';

export interface QueueApp {
  app: INestApplicationContext;
  producer: QueueProducer;
  inspector: QueueInspector;
  prefix: string;
  close(): Promise<void>;
}

/**
 * A Nest application context with RedisQueueModule on the run's Redis, under a fresh key prefix,
 * plus the given handler providers. Lifecycle hooks run as in a real app (init starts workers).
 */
export async function startQueueApp(
  providers: Provider[],
  options: Partial<RedisQueueModuleOptions> = {},
): Promise<QueueApp> {
  const prefix = options.prefix ?? uniquePrefix();
  const moduleRef = await Test.createTestingModule({
    imports: [
      RedisQueueModule.forRoot({
        connection: redisUrl(),
        checkRedisConfig: false,
        ...options,
        prefix,
      }),
    ],
    providers,
  }).compile();
  const app = await moduleRef.init();
  return {
    app,
    producer: app.get(QueueProducer),
    inspector: app.get(QueueInspector),
    prefix,
    close: () => app.close(),
  };
}
