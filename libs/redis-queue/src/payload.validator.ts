import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validate, ValidationError, ValidatorOptions } from 'class-validator';
import { InvalidPayloadError, PayloadValidationError } from './engine/index.js';
import { messages } from './redis-queue.messages.js';

type Problem = { path: string; problem: string };
type Constructor = abstract new (...args: never[]) => object;

const ruleCache = new WeakMap<Function, boolean>();

/** True when the class (or a parent) carries class-validator decorators. */
export function hasValidationRules(type: unknown): type is Constructor {
  if (typeof type !== 'function' || type === Object) return false;
  let cached = ruleCache.get(type);
  if (cached === undefined) {
    cached = getMetadataStorage().getTargetValidationMetadatas(type, '', true, false).length > 0;
    ruleCache.set(type, cached);
  }
  return cached;
}

/** Flattens nested class-validator errors into `path: message` entries. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): Problem[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((problem) => ({ path, problem }));
    return own.concat(flattenValidationErrors(error.children ?? [], path));
  });
}

export function formatProblems(problems: Problem[]): string {
  return problems.map((p) => `${p.path}: ${p.problem}`).join('; ');
}

/** True for an instance of a class with class-validator rules: what `validateForEnqueue` checks. */
export function needsValidation(payload: unknown): payload is object {
  return typeof payload === 'object' && payload !== null && hasValidationRules(payload.constructor);
}

/** Before enqueue: rejects an instance of a validated class that breaks its rules. */
export async function validateForEnqueue(queue: string, payload: unknown, options: ValidatorOptions): Promise<void> {
  if (!needsValidation(payload)) return;
  const type = payload.constructor;
  const problems = flattenValidationErrors(await validate(payload, options));
  if (problems.length > 0) {
    throw new InvalidPayloadError(messages.invalidPayloadForEnqueue(queue, type.name, formatProblems(problems)), problems);
  }
}

/**
 * Before a handler runs: turns the JSON payload into an instance of the handler's parameter class and
 * validates it; a failure is a PayloadValidationError, which dead-letters the job (retrying cannot fix it).
 */
export function createPayloadTransformer(
  type: Constructor,
  options: ValidatorOptions,
): (payload: unknown) => Promise<object> {
  return async (payload) => {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw new PayloadValidationError(messages.payloadNotObject(type.name, Array.isArray(payload) ? 'an array' : String(payload === null ? 'null' : typeof payload)));
    }
    const instance = plainToInstance(type as unknown as new () => object, payload);
    const problems = flattenValidationErrors(await validate(instance, options));
    if (problems.length > 0) {
      throw new PayloadValidationError(messages.invalidPayloadForHandler(type.name, formatProblems(problems)), problems);
    }
    return instance;
  };
}
