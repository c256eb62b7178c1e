import { Inject, Injectable, Logger } from '@nestjs/common';
import { closeClient, ConnectionRole, createClient, PubSub, RedisClient, RedisUnavailableError } from './engine/index.js';
import { messages } from './redis-queue.messages.js';
import { REDIS_QUEUE_LOGGER, REDIS_QUEUE_RESOLVED_OPTIONS } from './redis-queue.constants.js';
import type { ResolvedRedisQueueOptions } from './redis-queue.options.js';

/**
 * Owns every Redis connection of the module: one for producing, one for worker scripts, and the Pub/Sub
 * subscriber that carries every queue's notifications and every broadcast channel (one connection, one
 * per primary on Cluster). Connections open on first use.
 */
@Injectable()
export class RedisQueueConnections {
  private readonly logger = new Logger(REDIS_QUEUE_LOGGER);
  private readonly open = new Set<RedisClient>();
  private producerClient?: RedisClient;
  private workerClient?: RedisClient;
  private pubsub?: PubSub;
  /** After closeAll: nothing opens again (an inspector called after app.close() must not reconnect). */
  private closed = false;

  constructor(@Inject(REDIS_QUEUE_RESOLVED_OPTIONS) private readonly options: ResolvedRedisQueueOptions) {}

  /** The resolved module options the connections were made with. */
  get settings(): ResolvedRedisQueueOptions {
    return this.options;
  }

  producer(): RedisClient {
    this.assertOpen('enqueue');
    return (this.producerClient ??= this.create('producer', `${this.options.prefix}:producer`));
  }

  worker(): RedisClient {
    this.assertOpen('worker');
    return (this.workerClient ??= this.create('worker', `${this.options.prefix}:worker`));
  }

  /** The module's one Pub/Sub subscriber: every channel of the process shares its connection(s). */
  subscriber(): PubSub {
    this.assertOpen('subscribe');
    return (this.pubsub ??= new PubSub({ connection: this.options.connection, name: `${this.options.prefix}:subscriber`, logger: this.logger }));
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    const clients = [...this.open];
    const pubsub = this.pubsub;
    this.open.clear();
    this.producerClient = this.workerClient = this.pubsub = undefined;
    await Promise.all([...clients.map((client) => closeClient(client)), pubsub?.close()]);
  }

  private assertOpen(what: string): void {
    if (this.closed) throw new RedisUnavailableError(messages.appClosed(what));
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
