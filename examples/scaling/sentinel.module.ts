import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { RedisQueueModule } from 'nestjs-redis-queue';

/** `REDIS_SENTINELS=10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379` */
function sentinelNodes(list: string): Array<{ host: string; port: number }> {
  return list.split(',').map((node) => {
    const [host, port] = node.trim().split(':');
    return { host, port: Number(port) };
  });
}

@Module({
  imports: [
    ConfigModule.forRoot(),
    RedisQueueModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        connection: {
          sentinels: sentinelNodes(config.getOrThrow<string>('REDIS_SENTINELS')),
          name: config.get<string>('REDIS_MASTER_NAME', 'mymaster'), // the name in `sentinel monitor <name> ...`
          password: config.get<string>('REDIS_PASSWORD'), // of the Redis servers
          sentinelPassword: config.get<string>('REDIS_SENTINEL_PASSWORD'), // of the sentinels, if they have one
        },
        prefix: config.get<string>('QUEUE_PREFIX', 'rq'),
      }),
    }),
  ],
})
export class QueueSentinelModule {}
