import type { StandardSchemaV1 } from '@standard-schema/spec';
import { InvalidPayloadError, PayloadValidationError } from './engine/index.js';
import { formatProblems, HandlerCheck, PayloadCheck, Problem } from './payload.checks.js';
import { messages } from './redis-queue.messages.js';

type Result = StandardSchemaV1.Result<unknown>;

/** Issues of a Standard Schema result as problems: the path joined with dots (`items.0.sku`). */
export function schemaProblems(issues: ReadonlyArray<StandardSchemaV1.Issue>): Problem[] {
  return issues.map((issue) => ({
    path: (issue.path ?? []).map((segment) => String(typeof segment === 'object' ? segment.key : segment)).join('.'),
    problem: issue.message,
  }));
}

function isPromise(result: Result | Promise<Result>): result is Promise<Result> {
  return typeof (result as Partial<Promise<Result>>).then === 'function';
}

/** At enqueue: any payload (plain objects too) is validated; invalid ones reject with InvalidPayloadError. */
export function schemaEnqueueCheck(schema: StandardSchemaV1, queue: string): PayloadCheck {
  const validator = schema['~standard'];
  const settle = (result: Result): void => {
    if (result.issues) {
      const problems = schemaProblems(result.issues);
      throw new InvalidPayloadError(messages.invalidPayloadForEnqueue(queue, `${validator.vendor} schema`, formatProblems(problems)), problems);
    }
  };
  return (payload) => {
    const result = validator.validate(payload);
    return isPromise(result) ? result.then(settle) : settle(result);
  };
}

/** Before the handler: it receives the schema's output; an invalid payload is a PayloadValidationError. */
export function schemaHandlerCheck(schema: StandardSchemaV1): HandlerCheck {
  const validator = schema['~standard'];
  const what = `${validator.vendor} schema`;
  const settle = (result: Result): unknown => {
    if (result.issues) {
      const problems = schemaProblems(result.issues);
      throw new PayloadValidationError(messages.invalidPayloadForSchema(what, formatProblems(problems)), problems);
    }
    return result.value;
  };
  return (payload, job, next) => {
    const result = validator.validate(payload);
    return isPromise(result) ? result.then((settled) => next(settle(settled), job)) : next(settle(result), job);
  };
}
