import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { assertQueueName, QUEUE_EVENTS, QueueEvent, QueueEvents } from './engine/index.js';
import { discoverMethods } from './method.discovery.js';
import { QueueEventMetadata } from './queue-event.decorator.js';
import { QUEUE_EVENT_METADATA, REDIS_QUEUE_LOGGER } from './redis-queue.constants.js';
import { RedisQueueConnections } from './redis-queue.connections.js';
import { messages } from './redis-queue.messages.js';

/**
 * Collects `@OnQueueEvent` methods at module init (failing fast on a bad queue or event name), starts
 * listening at bootstrap (resolving once events from then on are heard), and stops at shutdown.
 */
@Injectable()
export class QueueEventExplorer implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(REDIS_QUEUE_LOGGER);
  private bindings: Array<{ queue: string; event: QueueEventMetadata['event']; name: string; run: (event: QueueEvent) => unknown }> = [];
  private events?: QueueEvents;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly connections: RedisQueueConnections,
  ) {}

  onModuleInit(): void {
    const found = discoverMethods<QueueEventMetadata>(this.discovery, this.scanner, this.reflector, QUEUE_EVENT_METADATA, (provider) =>
      this.logger.warn(messages.requestScopedListener(provider)),
    );
    this.bindings = found.map(({ instance, method, name, metadata }) => {
      try {
        assertQueueName(metadata.queue);
        if (metadata.event !== '*' && !(QUEUE_EVENTS as readonly string[]).includes(metadata.event)) {
          throw new Error(`event must be one of ${QUEUE_EVENTS.join(', ')} or '*' (got "${String(metadata.event)}")`);
        }
      } catch (error) {
        throw new Error(messages.invalidListener(name, (error as Error).message), { cause: error });
      }
      const fn = instance[method];
      return { queue: metadata.queue, event: metadata.event, name, run: (event: QueueEvent) => fn.call(instance, event) };
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.bindings.length === 0) return;
    const { prefix } = this.connections.settings;
    const events = (this.events = new QueueEvents({
      client: this.connections.worker(),
      notifications: this.connections.subscriber(),
      prefix,
      logger: this.logger,
    }));
    for (const binding of this.bindings) events.on(binding.queue, binding.event, binding.run);
    // Started once events from now on are heard; if Redis is down, the start waits no longer than
    // commandTimeout (listening begins when Redis is back).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([events.ready(), new Promise<void>((resolve) => (timer = setTimeout(resolve, this.connections.settings.commandTimeout)))]);
    clearTimeout(timer);
    this.logger.log(messages.listenersStarted([...new Set(this.bindings.map((b) => `${b.queue}:${b.event}`))]));
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.events?.close();
    this.events = undefined;
  }
}
