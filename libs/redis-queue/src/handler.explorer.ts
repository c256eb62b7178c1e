import { Inject, Injectable, Logger, OnModuleInit, Type } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { asOptionObject, assertQueueName, JobContext, parseJobDefaults } from './engine/index.js';
import { createPayloadTransformer, hasValidationRules } from './payload.validator.js';
import { QueueHandlerMetadata, QueueHandlerOptions } from './queue-handler.decorator.js';
import { QUEUE_HANDLER_METADATA, REDIS_QUEUE_LOGGER, REDIS_QUEUE_RESOLVED_OPTIONS } from './redis-queue.constants.js';
import { messages } from './redis-queue.messages.js';
import { integer } from './redis-queue.options.js';
import type { ResolvedRedisQueueOptions } from './redis-queue.options.js';

/** A discovered `@QueueHandler` method, ready to be run by a worker loop. */
export interface QueueHandlerBinding {
  queue: string;
  /** `ClassName.method`, for messages. */
  name: string;
  concurrency: number;
  options: QueueHandlerOptions;
  run: (payload: unknown, job: JobContext) => Promise<unknown>;
}

const HANDLER_OPTION_KEYS = ['concurrency', 'attempts', 'backoff', 'payloadType', 'validate'];

/** Collects `@QueueHandler` methods of every provider at module init, failing fast on mistakes. */
@Injectable()
export class HandlerExplorer implements OnModuleInit {
  private readonly logger = new Logger(REDIS_QUEUE_LOGGER);
  private bindings: QueueHandlerBinding[] = [];

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    @Inject(REDIS_QUEUE_RESOLVED_OPTIONS) private readonly options: ResolvedRedisQueueOptions,
  ) {}

  onModuleInit(): void {
    const byQueue = new Map<string, QueueHandlerBinding>();
    for (const wrapper of this.discovery.getProviders()) {
      for (const binding of this.bindingsOf(wrapper)) {
        const existing = byQueue.get(binding.queue);
        if (existing) throw new Error(messages.duplicateHandler(binding.queue, existing.name, binding.name));
        byQueue.set(binding.queue, binding);
      }
    }
    this.bindings = [...byQueue.values()];
  }

  handlers(): readonly QueueHandlerBinding[] {
    return this.bindings;
  }

  private bindingsOf(wrapper: InstanceWrapper): QueueHandlerBinding[] {
    const { instance } = wrapper;
    // Aliases and providers without an instance (e.g. not yet resolved values) carry no handlers.
    if (wrapper.isAlias || !instance || typeof instance !== 'object') return [];
    const prototype = Object.getPrototypeOf(instance) as object | null;
    if (!prototype || prototype === Object.prototype) return [];
    const found: QueueHandlerBinding[] = [];
    for (const method of this.scanner.getAllMethodNames(prototype)) {
      const handler = (prototype as Record<string, unknown>)[method];
      const metadata = this.reflector.get<QueueHandlerMetadata | undefined>(QUEUE_HANDLER_METADATA, handler as Function);
      if (!metadata) continue;
      const name = `${(instance as object).constructor.name}.${method}`;
      if (!wrapper.isDependencyTreeStatic()) {
        this.logger.warn(messages.requestScopedHandler(wrapper.name?.toString() ?? name));
        continue;
      }
      found.push(this.bind(instance as Record<string, Function>, prototype, method, name, metadata));
    }
    return found;
  }

  private bind(
    instance: Record<string, Function>,
    prototype: object,
    method: string,
    name: string,
    metadata: QueueHandlerMetadata,
  ): QueueHandlerBinding {
    const { queue, options } = metadata;
    let concurrency: number;
    try {
      assertQueueName(queue);
      asOptionObject(options, '', HANDLER_OPTION_KEYS);
      parseJobDefaults({ attempts: options.attempts, backoff: options.backoff }, '');
      concurrency = integer(options.concurrency, 'concurrency', 1, 1, 10_000);
    } catch (error) {
      throw new Error(messages.invalidHandler(name, (error as Error).message), { cause: error });
    }
    const payloadType =
      options.payloadType ?? (Reflect.getMetadata('design:paramtypes', prototype, method) as Type<object>[] | undefined)?.[0];
    const validate = (options.validate ?? this.options.validation) && hasValidationRules(payloadType);
    const transform = validate ? createPayloadTransformer(payloadType, this.options.validatorOptions) : undefined;
    const fn = instance[method];
    const run = transform
      ? async (payload: unknown, job: JobContext) => fn.call(instance, await transform(payload), job)
      : async (payload: unknown, job: JobContext) => fn.call(instance, payload, job);
    return { queue, name, concurrency, options, run };
  }
}
