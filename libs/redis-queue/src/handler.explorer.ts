import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { assertQueueName, InvalidOptionError, JobContext, JobProcessor, QueueRef, queueName, RedisQueueError } from './engine/index.js';
import { HandlerCheck } from './payload.checks.js';
import { DiscoveredMethod, discoverMethods } from './method.discovery.js';
import { PayloadValidator } from './payload.validator.js';
import { QueueHandlerMetadata } from './queue-handler.decorator.js';
import { parseHandlerOptions, QueueHandlerOptions } from './queue-handler.options.js';
import { QUEUE_HANDLER_METADATA, REDIS_QUEUE_LOGGER, REDIS_QUEUE_RESOLVED_OPTIONS } from './redis-queue.constants.js';
import { messages } from './redis-queue.messages.js';
import type { ResolvedRedisQueueOptions } from './redis-queue.options.js';

/** A discovered `@QueueHandler` method, ready to be run by a worker loop. */
export interface QueueHandlerBinding {
  queue: string;
  /** `ClassName.method`, for messages. */
  name: string;
  concurrency: number;
  /** The decorator's options, checked, with the module's `queues` overrides for this queue applied over them. */
  options: QueueHandlerOptions;
  run: JobProcessor;
}

/** A `@QueueHandler` method found on a provider, before it is bound. */
type FoundHandler = DiscoveredMethod<QueueHandlerMetadata>;

/** Collects `@QueueHandler` methods of every provider at module init, failing fast on mistakes. */
@Injectable()
export class HandlerExplorer implements OnModuleInit {
  private readonly logger = new Logger(REDIS_QUEUE_LOGGER);
  private bindings: QueueHandlerBinding[] = [];

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly validator: PayloadValidator,
    @Inject(REDIS_QUEUE_RESOLVED_OPTIONS) private readonly options: ResolvedRedisQueueOptions,
  ) {}

  async onModuleInit(): Promise<void> {
    const byQueue = new Map<string, FoundHandler & { queue: string; options: QueueHandlerOptions }>();
    const found = discoverMethods<QueueHandlerMetadata>(this.discovery, this.scanner, this.reflector, QUEUE_HANDLER_METADATA, (provider) =>
      this.logger.warn(messages.requestScopedHandler(provider)),
    );
    for (const handler of found) {
      const { queue, options } = this.checked(handler);
      const existing = byQueue.get(queue);
      if (existing) throw new RedisQueueError(messages.duplicateHandler(queue, existing.name, handler.name));
      byQueue.set(queue, { ...handler, queue, options });
    }
    const queues = [...byQueue.keys()];
    this.assertKnown('queues', Object.keys(this.options.queues), queues);
    if (Array.isArray(this.options.consumers)) this.assertKnown('consumers', this.options.consumers, queues);
    // Imports class-validator only if a handler names a payload class, or classes already use its decorators.
    const handlers = [...byQueue.values()];
    await this.validator.prepare(handlers.some(({ options, metadata }) => (options.payloadType ?? queueRef(metadata)?.payloadType) !== undefined));
    this.bindings = handlers.map(({ queue, options, ...found }) => this.bind(queue, found, { ...options, ...this.options.queues[queue] }));
  }

  /** Every handler of this app (producing to their queues uses their validation too). */
  handlers(): readonly QueueHandlerBinding[] {
    return this.bindings;
  }

  /** The handlers this app runs, as module option `consumers` says. */
  consumedHandlers(): readonly QueueHandlerBinding[] {
    const { consumers } = this.options;
    if (consumers === true) return this.bindings;
    if (consumers === false) return [];
    return this.bindings.filter((binding) => consumers.includes(binding.queue));
  }

  /** The handler's queue name and checked options; errors name the handler. */
  private checked(found: FoundHandler): { queue: string; options: QueueHandlerOptions } {
    try {
      const queue = queueName(found.metadata.queue);
      assertQueueName(queue);
      return { queue, options: parseHandlerOptions(found.metadata.options) };
    } catch (error) {
      throw handlerError(found.name, error);
    }
  }

  private assertKnown(option: 'queues' | 'consumers', names: readonly string[], known: string[]): void {
    const unknown = names.filter((name) => !known.includes(name));
    if (unknown.length > 0) throw new InvalidOptionError(option, messages.unknownQueues(option, unknown, known));
  }

  private bind(queue: string, found: FoundHandler, options: QueueHandlerOptions): QueueHandlerBinding {
    const { instance, prototype, method, name, metadata } = found;
    const fn = (instance as Record<string, Function>)[method];
    const call = (payload: unknown, job: JobContext): unknown => fn.call(instance, payload, job);
    let check: HandlerCheck | undefined;
    try {
      check = this.validator.handlerCheck({
        queue: metadata.queue,
        options,
        parameterType: (Reflect.getMetadata('design:paramtypes', prototype, method) as unknown[] | undefined)?.[0],
      });
    } catch (error) {
      throw handlerError(name, error);
    }
    const validated = check;
    // No wrapper of our own around the method: the worker takes a plain return value or a promise alike.
    const run: JobProcessor = validated ? (payload, job) => validated(payload, job, call) : call;
    return { queue, name, concurrency: options.concurrency ?? 1, options, run };
  }
}

function queueRef(metadata: QueueHandlerMetadata): QueueRef | undefined {
  return typeof metadata.queue === 'object' ? metadata.queue : undefined;
}

function handlerError(handler: string, cause: unknown): RedisQueueError {
  return Object.assign(new RedisQueueError(messages.invalidHandler(handler, (cause as Error).message)), { cause });
}
