import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleInit,
} from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { discoverMethods } from './method.discovery.js';
import {
  asOptionObject,
  assertBroadcastChannel,
  broadcastChannel,
  BroadcastMessage,
  decodeBroadcast,
  Unsubscribe,
} from './engine/index.js';
import { BroadcastHandlerMetadata } from './broadcast-handler.decorator.js';
import { HandlerCheck } from './payload.checks.js';
import { PayloadValidator } from './payload.validator.js';
import { BROADCAST_HANDLER_METADATA, REDIS_QUEUE_LOGGER, REDIS_QUEUE_RESOLVED_OPTIONS } from './redis-queue.constants.js';
import { RedisQueueConnections } from './redis-queue.connections.js';
import { messages } from './redis-queue.messages.js';
import type { ResolvedRedisQueueOptions } from './redis-queue.options.js';

/** A discovered `@BroadcastHandler` method. */
interface BroadcastBinding {
  channel: string;
  /** `ClassName.method`, for messages. */
  name: string;
  /** Validates (when the handler asks for it) and runs the method. */
  run: (message: BroadcastMessage) => Promise<unknown>;
}

const OPTION_KEYS = ['payloadType', 'validate'];

/**
 * Collects `@BroadcastHandler` methods at module init (failing fast on bad channel names), subscribes
 * them through the module's one subscriber connection at bootstrap, and runs each handler once per
 * broadcast, logging (never rethrowing) what a handler throws.
 */
@Injectable()
export class BroadcastExplorer implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(REDIS_QUEUE_LOGGER);
  private bindings: BroadcastBinding[] = [];
  private subscriptions: Unsubscribe[] = [];
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly connections: RedisQueueConnections,
    private readonly validator: PayloadValidator,
    @Inject(REDIS_QUEUE_RESOLVED_OPTIONS) private readonly options: ResolvedRedisQueueOptions,
  ) {}

  async onModuleInit(): Promise<void> {
    const found = discoverMethods<BroadcastHandlerMetadata>(this.discovery, this.scanner, this.reflector, BROADCAST_HANDLER_METADATA, (provider) =>
      this.logger.warn(messages.requestScopedBroadcastHandler(provider)),
    );
    // Imports class-validator only if a handler names a payload class, or classes already use its decorators.
    await this.validator.prepare(found.some((f) => f.metadata.options?.payloadType !== undefined));
    this.bindings = found.map((f) => this.bind(f.instance, f.prototype, f.method, f.name, f.metadata));
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.bindings.length === 0) return;
    const pubsub = this.connections.subscriber();
    const channels = new Set<string>();
    for (const binding of this.bindings) {
      const channel = broadcastChannel(this.options.prefix, binding.channel);
      channels.add(channel);
      this.subscriptions.push(pubsub.subscribe(channel, (message) => this.dispatch(binding, message)));
    }
    // Broadcasts sent once the app has started reach it; if Redis is down, the start does not wait for it
    // longer than commandTimeout (the subscriber logs the outage and subscribes when Redis is back).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...channels].map((c) => pubsub.whenSubscribed(c))).catch(() => undefined),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.commandTimeout))),
    ]);
    clearTimeout(timer);
    this.logger.log(messages.broadcastHandlersSubscribed([...new Set(this.bindings.map((b) => b.channel))]));
  }

  async beforeApplicationShutdown(): Promise<void> {
    for (const unsubscribe of this.subscriptions.splice(0)) unsubscribe();
    if (this.running.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running]),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.shutdownTimeout))),
    ]);
    clearTimeout(timer);
  }

  private dispatch(binding: BroadcastBinding, raw: string): void {
    let message: BroadcastMessage;
    try {
      message = decodeBroadcast(binding.channel, raw);
    } catch (error) {
      this.logger.warn(messages.invalidBroadcastForHandler(binding.name, binding.channel, (error as Error).message));
      return;
    }
    const done: Promise<void> = binding
      .run(message)
      .then(
        () => undefined,
        (error: unknown) => {
          const e = error instanceof Error ? error : new Error(String(error));
          if (e.name === 'PayloadValidationError') this.logger.warn(messages.invalidBroadcastForHandler(binding.name, binding.channel, e.message));
          else this.logger.error(messages.broadcastHandlerFailed(binding.name, binding.channel, e.message), e.stack);
        },
      )
      .finally(() => this.running.delete(done));
    this.running.add(done);
  }

  private bind(instance: Record<string, Function>, prototype: object, method: string, name: string, metadata: BroadcastHandlerMetadata): BroadcastBinding {
    const { channel, options } = metadata;
    try {
      assertBroadcastChannel(channel);
      asOptionObject(options, '', OPTION_KEYS);
    } catch (error) {
      throw new Error(messages.invalidBroadcastHandler(name, (error as Error).message), { cause: error });
    }
    let check: HandlerCheck | undefined;
    try {
      check = this.validator.handlerCheck({
        queue: channel,
        options: { validate: options.validate, payloadType: options.payloadType },
        parameterType: (Reflect.getMetadata('design:paramtypes', prototype, method) as unknown[] | undefined)?.[0],
      });
    } catch (error) {
      throw new Error(messages.invalidBroadcastHandler(name, (error as Error).message), { cause: error });
    }
    const validated = check;
    const fn = instance[method];
    const call = (payload: unknown, message: BroadcastMessage) => fn.call(instance, payload, { ...message, payload });
    const run = validated
      ? async (message: BroadcastMessage) => validated(message.payload, message, call)
      : async (message: BroadcastMessage) => fn.call(instance, message.payload, message);
    return { channel, name, run };
  }
}
