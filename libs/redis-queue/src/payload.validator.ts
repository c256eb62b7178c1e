import { Inject, Injectable } from '@nestjs/common';
import { InvalidOptionError, PayloadClass, QueueRef, queueName } from './engine/index.js';
import { ClassValidation, loadClassValidation } from './class-validator.integration.js';
import { HandlerCheck, PayloadCheck } from './payload.checks.js';
import type { QueueHandlerOptions } from './queue-handler.options.js';
import { REDIS_QUEUE_RESOLVED_OPTIONS } from './redis-queue.constants.js';
import { messages } from './redis-queue.messages.js';
import type { ResolvedRedisQueueOptions } from './redis-queue.options.js';
import { schemaEnqueueCheck, schemaHandlerCheck } from './standard-schema.integration.js';

/** What decides a handler's validation. */
export interface HandlerValidationSource {
  queue: string | QueueRef;
  options: QueueHandlerOptions;
  /** The declared type of the method's first parameter (from emitted decorator metadata), if any. */
  parameterType?: unknown;
}

/**
 * Chooses and runs payload validation: Standard Schema validators, and class-validator classes when
 * class-validator is installed (imported only when something may need it, so the package works without it).
 */
@Injectable()
export class PayloadValidator {
  /** undefined: not imported (yet); null: not installed. */
  private classValidation?: ClassValidation | null;
  private loading?: Promise<ClassValidation | null>;
  private readonly tokenChecks = new WeakMap<QueueRef, PayloadCheck | null>();

  constructor(@Inject(REDIS_QUEUE_RESOLVED_OPTIONS) private readonly options: ResolvedRedisQueueOptions) {}

  /**
   * Imports class-validator when it may be needed: some class already carries its decorators (its metadata
   * storage exists), or `explicit` (a handler or queue names a payload class). Idempotent.
   */
  async prepare(explicit: boolean): Promise<void> {
    if (this.classValidation === undefined && (explicit || classValidatorInUse())) await this.loadClassValidation();
  }

  /**
   * Before enqueue: the queue token's validator, else the payload's class rules when it is an instance of a
   * class with class-validator decorators. Returns a promise only for asynchronous rules; throws
   * InvalidPayloadError (nothing is stored).
   */
  checkForEnqueue(queue: string | QueueRef, payload: unknown): void | Promise<void> {
    if (!this.options.validation) return;
    if (typeof queue === 'object' && queue !== null) {
      const check = this.tokenCheck(queue);
      if (check === undefined) return this.loadClassValidation().then(() => this.checkForEnqueue(queue, payload));
      if (check !== null) return check(payload);
    }
    if (typeof payload !== 'object' || payload === null || payload.constructor === Object || Array.isArray(payload)) return;
    if (this.classValidation === undefined) {
      // A class defined after the app started: import class-validator if it is in use now.
      if (!classValidatorInUse()) return;
      return this.loadClassValidation().then(() => this.checkForEnqueue(queue, payload));
    }
    if (this.classValidation?.hasRules(payload.constructor)) {
      const name = queueName(queue);
      return this.classValidation.instanceCheck(payload, (type, problems) => messages.invalidPayloadForEnqueue(name, type, problems));
    }
  }

  /** Before a broadcast: class-validator rules of a class instance. Throws InvalidPayloadError (nothing is sent). */
  checkForBroadcast(channel: string, payload: unknown): void | Promise<void> {
    if (!this.options.validation) return;
    if (typeof payload !== 'object' || payload === null || payload.constructor === Object || Array.isArray(payload)) return;
    if (this.classValidation === undefined) {
      if (!classValidatorInUse()) return;
      return this.loadClassValidation().then(() => this.checkForBroadcast(channel, payload));
    }
    if (this.classValidation?.hasRules(payload.constructor)) {
      return this.classValidation.instanceCheck(payload, (type, problems) => messages.invalidPayloadForBroadcast(channel, type, problems));
    }
  }

  /**
   * The check to run before a handler, or undefined for none. In order: the handler's `schema`, its
   * `payloadType`, the token's validator, the parameter's class when it has class-validator rules.
   * Call `prepare` first.
   */
  handlerCheck(source: HandlerValidationSource): HandlerCheck | undefined {
    const { options, queue } = source;
    if (!(options.validate ?? this.options.validation)) return undefined;
    const token = typeof queue === 'object' ? queue : undefined;
    if (options.schema) return schemaHandlerCheck(options.schema);
    if (options.payloadType) return this.requireClassValidation(`payloadType ${options.payloadType.name}`).handlerCheck(options.payloadType as PayloadClass<object>);
    if (token?.schema) return schemaHandlerCheck(token.schema);
    if (token?.payloadType) return this.requireClassValidation(`the payloadType of queue "${token.name}"`).handlerCheck(token.payloadType as PayloadClass<object>);
    const type = source.parameterType;
    return this.classValidation?.hasRules(type) ? this.classValidation.handlerCheck(type) : undefined;
  }

  /** The enqueue check a token carries; null for none; undefined while class-validator still has to be imported. */
  private tokenCheck(token: QueueRef): PayloadCheck | null | undefined {
    let check = this.tokenChecks.get(token);
    if (check === undefined) {
      if (token.schema) check = schemaEnqueueCheck(token.schema, token.name);
      else if (token.payloadType) {
        if (this.classValidation === undefined) return undefined;
        check = this.requireClassValidation(`the payloadType of queue "${token.name}"`).enqueueCheck(
          token.payloadType as PayloadClass<object>,
          token.name,
        );
      } else check = null;
      this.tokenChecks.set(token, check);
    }
    return check;
  }

  private requireClassValidation(feature: string): ClassValidation {
    if (!this.classValidation) throw new InvalidOptionError('payloadType', messages.classValidatorMissing(feature));
    return this.classValidation;
  }

  private loadClassValidation(): Promise<ClassValidation | null> {
    this.loading ??= loadClassValidation(this.options.validatorOptions).then((loaded) => (this.classValidation = loaded ?? null));
    return this.loading;
  }
}

/** class-validator keeps its decorators' metadata on the global object: it exists once any class used one. */
function classValidatorInUse(): boolean {
  return (globalThis as { classValidatorMetadataStorage?: unknown }).classValidatorMetadataStorage !== undefined;
}
