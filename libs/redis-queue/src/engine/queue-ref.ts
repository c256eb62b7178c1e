import type { StandardSchemaV1 } from '@standard-schema/spec';
import { describe } from './describe.js';
import { InvalidOptionError } from './errors.js';
import { asOptionObject, parseTrack } from './job-options.js';
import { assertQueueName } from './keys.js';

/** Type-only brands: never set at run time, they carry the payload types through the compiler. */
declare const PAYLOAD: unique symbol;
declare const INPUT: unique symbol;

/** A class whose instances are a queue's payloads (validated with class-validator by the Nest layer). */
export type PayloadClass<T> = abstract new (...args: never[]) => T;

/**
 * A queue name that carries its payload type, made by `defineQueue`. Accepted wherever a queue name is, so
 * that the compiler checks payloads from `enqueue` to the handler. `T` is what the handler receives, `In`
 * what producers enqueue: they differ only for a schema that transforms (e.g. a string parsed into a number).
 */
export interface QueueRef<T = unknown, In = T> {
  /** The queue's name, as Redis keys and every plain-string API know it. */
  readonly name: string;
  /** Standard Schema validator (zod, valibot, arktype, ...) of the payloads, at enqueue and before the handler. */
  readonly schema?: StandardSchemaV1<In, T>;
  /** Class of the payloads, validated with class-validator at enqueue and before the handler. */
  readonly payloadType?: PayloadClass<T>;
  /** Jobs enqueued through this token are tracked unless their own `track` says otherwise. */
  readonly track?: boolean | { retention?: number };
  readonly [PAYLOAD]?: T;
  readonly [INPUT]?: In;
}

/** Options of `defineQueue`: at most one validator. */
export interface QueueDefinition<T = unknown, In = T> {
  /** A Standard Schema validator; the payload type is its output. Default: none. */
  schema?: StandardSchemaV1<In, T>;
  /** A class with class-validator decorators; the payload type is its instance type. Default: none. */
  payloadType?: PayloadClass<T>;
  /**
   * Track every job of the queue (findable by id, cancellable, results kept; see the enqueue option
   * `track`), unless a job's own `track` says otherwise. Default: false.
   */
  track?: boolean | { retention?: number };
}

const DEFINITION_KEYS = ['schema', 'payloadType', 'track'];

/**
 * Defines a typed queue. With a type argument only, it checks types and validates nothing by itself; with a
 * `schema` (any Standard Schema validator) or a `payloadType` class, payloads are validated at enqueue (plain
 * objects too) and before the handler, and the type comes from the validator.
 *
 * @example
 * ```ts
 * export const EmailQueue = defineQueue<WelcomeEmail>('email');
 * export const ReportQueue = defineQueue('report', { schema: v.object({ month: v.string() }) });
 * ```
 */
export function defineQueue<S extends StandardSchemaV1>(
  name: string,
  definition: { schema: S },
): QueueRef<StandardSchemaV1.InferOutput<S>, StandardSchemaV1.InferInput<S>>;
export function defineQueue<T>(name: string, definition: { payloadType: PayloadClass<T> }): QueueRef<T>;
export function defineQueue<T = unknown>(name: string, definition?: QueueDefinition<T>): QueueRef<T>;
export function defineQueue(name: string, definition: QueueDefinition = {}): QueueRef {
  assertQueueName(name);
  const o = asOptionObject(definition, 'defineQueue', DEFINITION_KEYS) as QueueDefinition;
  if (o.schema !== undefined && o.payloadType !== undefined) {
    throw new InvalidOptionError('defineQueue.schema', 'cannot be combined with "payloadType"; give one validator');
  }
  if (o.schema !== undefined) assertStandardSchema(o.schema, 'defineQueue.schema');
  if (o.payloadType !== undefined && typeof o.payloadType !== 'function') {
    throw new InvalidOptionError('defineQueue.payloadType', `must be a class (got ${describe(o.payloadType)})`);
  }
  if (o.track !== undefined) parseTrack(o.track, 'defineQueue.track');
  const ref: { -readonly [K in keyof QueueRef]: QueueRef[K] } = { name };
  if (o.track !== undefined) ref.track = o.track;
  if (o.schema !== undefined) ref.schema = o.schema;
  if (o.payloadType !== undefined) ref.payloadType = o.payloadType;
  return Object.freeze(ref);
}

/** The name of a queue given by name or by `QueueRef`. Anything else comes back as it is, for the caller's check. */
export function queueName(queue: string | QueueRef): string {
  return typeof queue === 'object' && queue !== null ? queue.name : queue;
}

/** True for a value implementing the Standard Schema interface (version 1). */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
  const props = (value as Partial<StandardSchemaV1>)['~standard'];
  return typeof props === 'object' && props !== null && props.version === 1 && typeof props.validate === 'function';
}

export function assertStandardSchema(value: unknown, field: string): asserts value is StandardSchemaV1 {
  if (!isStandardSchema(value)) {
    throw new InvalidOptionError(
      field,
      `must be a Standard Schema validator (zod, valibot, arktype, ...: an object with "~standard" version 1) (got ${describe(value)})`,
    );
  }
}
