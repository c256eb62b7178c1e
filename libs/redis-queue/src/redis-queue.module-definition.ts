import { ConfigurableModuleBuilder } from '@nestjs/common';
import { RedisQueueModuleOptions } from './redis-queue.options.js';

export const {
  ConfigurableModuleClass: ConfigurableRedisQueueModule,
  MODULE_OPTIONS_TOKEN: REDIS_QUEUE_MODULE_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<RedisQueueModuleOptions>({ moduleName: 'RedisQueue' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createRedisQueueOptions')
  // Global by default: the producer is injected across feature modules of one app.
  .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
