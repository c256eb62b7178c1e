import { Inject, Injectable, Logger } from '@nestjs/common';
import { closeClient, ConnectionRole, createClient, RedisClient } from './engine/index.js';
import { REDIS_QUEUE_LOGGER, REDIS_QUEUE_RESOLVED_OPTIONS } from './redis-queue.constants.js';
import type { ResolvedRedisQueueOptions } from './redis-queue.options.js';

/**
 * Owns every Redis connection of the module: one for producing, one for worker scripts, and one
 * subscriber for the notifications of every queue this process serves. Connections open on first use.
 */
@Injectable()
export class RedisQueueConnections {
  private readonly logger = new Logger(REDIS_QUEUE_LOGGER);
  private readonly open = new Set<RedisClient>();
  private producerClient?: RedisClient;
  private workerClient?: RedisClient;
  private subscriberClient?: RedisClient;

  constructor(@Inject(REDIS_QUEUE_RESOLVED_OPTIONS) private readonly options: ResolvedRedisQueueOptions) {}

  producer(): RedisClient {
    return (this.producerClient ??= this.create('producer', `${this.options.prefix}:producer`));
  }

  worker(): RedisClient {
    return (this.workerClient ??= this.create('worker', `${this.options.prefix}:worker`));
  }

  /** The process's one subscriber connection (queue notifications), opened on first use. */
  subscriber(): RedisClient {
    return (this.subscriberClient ??= this.create('blocking', `${this.options.prefix}:notify`));
  }

  async closeAll(): Promise<void> {
    const clients = [...this.open];
    this.open.clear();
    this.producerClient = this.workerClient = this.subscriberClient = undefined;
    await Promise.all(clients.map((client) => closeClient(client)));
  }

  private create(role: ConnectionRole, name: string): RedisClient {
    const client = createClient(this.options.connection, {
      role,
      name,
      commandTimeout: role === 'worker' ? Math.max(this.options.commandTimeout, 10_000) : this.options.commandTimeout,
      logger: this.logger,
    });
    this.open.add(client);
    return client;
  }
}
