import { validate, ValidatorOptions } from 'class-validator';
import { InvalidPayloadError } from './engine/index.js';
import { flattenValidationErrors, formatProblems, needsValidation } from './payload.validator.js';
import { messages } from './redis-queue.messages.js';

/** Before a broadcast: rejects an instance of a validated class that breaks its rules; nothing is sent. */
export async function validateForBroadcast(channel: string, payload: unknown, options: ValidatorOptions): Promise<void> {
  if (!needsValidation(payload)) return;
  const problems = flattenValidationErrors(await validate(payload, options));
  if (problems.length > 0) {
    throw new InvalidPayloadError(messages.invalidPayloadForBroadcast(channel, payload.constructor.name, formatProblems(problems)), problems);
  }
}
