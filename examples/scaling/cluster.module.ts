import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { RedisQueueModule } from 'nestjs-redis-queue';

/** `REDIS_CLUSTER_NODES=10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379`: a few nodes; the client discovers the rest. */
function seedNodes(list: string): Array<{ host: string; port: number }> {
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
          cluster: seedNodes(config.getOrThrow<string>('REDIS_CLUSTER_NODES')),
          options: {
            // Options of every node connection: ACL user, password, TLS (`tls: {}`).
            redisOptions: { username: config.get<string>('REDIS_USERNAME'), password: config.get<string>('REDIS_PASSWORD') },
          },
        },
        prefix: config.get<string>('QUEUE_PREFIX', 'rq'),
        // Opt-in: enqueue resolves once a replica of the queue's primary has the job, so a failover cannot lose it.
        waitForReplicas: { replicas: 1, timeout: 2000 },
      }),
    }),
  ],
})
export class QueueClusterModule {}
