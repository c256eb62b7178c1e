/** One failing property of a payload, e.g. `{ path: 'address.city', problem: 'city should not be empty' }`. */
export interface Problem {
  path: string;
  problem: string;
}

/** A check at enqueue: returns when the payload is valid (a promise for asynchronous rules), throws InvalidPayloadError. */
export type PayloadCheck = (payload: unknown) => void | Promise<void>;

/**
 * A check before a handler: calls `next` with what the handler receives (the validator's output) and the
 * handler's context (a JobContext, or a broadcast message), or throws PayloadValidationError. Returns next's
 * result, or a promise of it for asynchronous rules. Passing `next` on (instead of returning the output)
 * keeps the synchronous path free of promises.
 */
export type HandlerCheck = <C>(payload: unknown, context: C, next: (value: unknown, context: C) => unknown) => unknown;

export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => (p.path ? `${p.path}: ${p.problem}` : p.problem)).join('; ');
}
