import { InvalidOptionError, InvalidPayloadError, PayloadValidationError } from './engine/index.js';
import { formatProblems, HandlerCheck, PayloadCheck, Problem } from './payload.checks.js';
import { messages } from './redis-queue.messages.js';
import type { ClassValidatorOptions } from './redis-queue.options.js';

// What this file uses of class-validator and class-transformer, declared here rather than imported, so that
// neither package is needed to load this one or to compile against its declarations.

type Constructor = abstract new (...args: never[]) => object;

interface ValidationError {
  property: string;
  constraints?: Record<string, string>;
  children?: ValidationError[];
}

interface ValidationMetadata {
  type: string;
  constraintCls: Function;
  propertyName: string;
  constraints: unknown[];
  each?: boolean;
  validateIf?: (object: object, value: unknown) => boolean;
}

/** A rule's checker, as class-validator keeps it (built-ins and `@ValidatorConstraint` classes alike). */
interface ConstraintMetadata {
  name?: string;
  async: boolean;
  instance?: { validate?: (value: unknown, args: object) => unknown };
}

interface ClassValidatorApi {
  getMetadataStorage(): {
    getTargetValidationMetadatas(
      target: Function,
      schema: string,
      always: boolean,
      strictGroups: boolean,
      groups?: string[],
    ): ValidationMetadata[];
    getTargetValidatorConstraints(target: Function): ConstraintMetadata[];
  };
  validate(object: object, options?: ClassValidatorOptions): Promise<ValidationError[]>;
  validateSync(object: object, options?: ClassValidatorOptions): ValidationError[];
}

interface ClassTransformerApi {
  plainToInstance(type: new () => object, plain: object): object;
  Type(typeFunction: () => Function): (target: object, key: string) => void;
}

/** The maps class-transformer keeps its decorators in (per class), read to know whether a class needs it. */
interface TransformerStorage {
  findTypeMetadata(target: Function, property: string): unknown;
  _typeMetadatas?: Map<Function, unknown>;
  _transformMetadatas?: Map<Function, unknown>;
  _exposeMetadatas?: Map<Function, unknown>;
  _excludeMetadatas?: Map<Function, unknown>;
}

/** How payloads of one class are checked, worked out once per class. */
interface ClassPlan {
  /** The class (or a parent) has class-validator decorators. */
  readonly rules: boolean;
  /** A JSON payload as an instance of the class. */
  toInstance(plain: object): object;
  /** Runs the class's rules: synchronously when every rule is a synchronous built-in. */
  validate(instance: object): ValidationError[] | Promise<ValidationError[]>;
  readonly sync: boolean;
}

/** Packages imported once per process, on first use: the library itself loads without them. */
let loading: Promise<{ validator?: ClassValidatorApi; transformer?: ClassTransformerApi; storage?: TransformerStorage }> | undefined;

/**
 * class-validator (and class-transformer, when installed) for one module: which classes have rules, and the
 * checks at enqueue and before handlers. Built by `loadClassValidation` when class-validator is installed.
 */
export class ClassValidation {
  private readonly plans = new WeakMap<Function, ClassPlan>();
  private readonly syncNames: ReadonlySet<string>;

  constructor(
    private readonly validator: ClassValidatorApi,
    private readonly transformer: ClassTransformerApi | undefined,
    private readonly transformerStorage: TransformerStorage | undefined,
    private readonly options: ClassValidatorOptions,
  ) {
    // The built-in decorators' names (IS_EMAIL = 'isEmail', MIN = 'min', ...): their checks are synchronous.
    this.syncNames = new Set(
      Object.entries(validator).flatMap(([key, value]) => (/^[A-Z][A-Z0-9_]*$/.test(key) && typeof value === 'string' ? [value] : [])),
    );
  }

  /** True when the class (or a parent) carries class-validator decorators. */
  hasRules(type: unknown): type is Constructor {
    return typeof type === 'function' && type !== Object && this.plan(type).rules;
  }

  /**
   * At enqueue, for a queue whose token names `type`: an instance is validated as it is, a plain object as the
   * instance it would become before the handler. Throws InvalidPayloadError naming each property.
   */
  enqueueCheck(type: Constructor, queue: string): PayloadCheck {
    const plan = this.plan(type);
    if (!plan.rules) return () => undefined;
    return (payload) => {
      if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
        throw new InvalidPayloadError(messages.invalidPayloadForEnqueue(queue, type.name, messages.notAnObject(payload)));
      }
      const instance = payload instanceof type ? payload : plan.toInstance(payload);
      return this.settle(plan.validate(instance), (problems) => {
        throw new InvalidPayloadError(messages.invalidPayloadForEnqueue(queue, type.name, formatProblems(problems)), problems);
      });
    };
  }

  /** At enqueue (or broadcast), for a payload that is itself an instance of a class with rules; `message` words the error. */
  instanceCheck(payload: object, message: (type: string, problems: string) => string): void | Promise<void> {
    const type = payload.constructor;
    return this.settle(this.plan(type).validate(payload), (problems) => {
      throw new InvalidPayloadError(message(type.name, formatProblems(problems)), problems);
    });
  }

  /**
   * Before the handler: the JSON payload becomes an instance of `type` and is validated; a failure is a
   * PayloadValidationError, which dead-letters the job (retrying cannot fix it). Undefined: `type` has no rules.
   */
  handlerCheck(type: Constructor): HandlerCheck | undefined {
    const plan = this.plan(type);
    if (!plan.rules) return undefined;
    const fail = (problems: Problem[]): never => {
      throw new PayloadValidationError(messages.invalidPayloadForHandler(type.name, formatProblems(problems)), problems);
    };
    return (payload, job, next) => {
      if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
        throw new PayloadValidationError(messages.payloadNotObject(type.name, messages.notAnObject(payload)));
      }
      const instance = plan.toInstance(payload);
      const errors = plan.validate(instance);
      if (Array.isArray(errors)) {
        if (errors.length > 0) fail(flattenValidationErrors(errors));
        return next(instance, job);
      }
      return errors.then((found) => {
        if (found.length > 0) fail(flattenValidationErrors(found));
        return next(instance, job);
      });
    };
  }

  private settle(errors: ValidationError[] | Promise<ValidationError[]>, fail: (problems: Problem[]) => never): void | Promise<void> {
    if (Array.isArray(errors)) {
      if (errors.length > 0) fail(flattenValidationErrors(errors));
      return;
    }
    return errors.then((found) => {
      if (found.length > 0) fail(flattenValidationErrors(found));
    });
  }

  private plan(type: Function): ClassPlan {
    let plan = this.plans.get(type);
    if (!plan) {
      plan = this.makePlan(type as Constructor);
      this.plans.set(type, plan);
    }
    return plan;
  }

  private makePlan(type: Constructor): ClassPlan {
    const { always, strictGroups, groups } = this.options;
    const storage = this.validator.getMetadataStorage();
    // The same rules class-validator's executor will look up for these options.
    const metadatas = storage.getTargetValidationMetadatas(type, '', always ?? false, strictGroups ?? false, groups);
    const options = this.options;
    const v = this.validator;
    // Without class-transformer decorators (@Type, @Transform, @Expose, @Exclude), plainToInstance amounts to
    // `new type()` with the JSON's properties assigned, at a fraction of the cost.
    const toInstance = this.needsTransformer(type)
      ? (plain: object) => this.transformer!.plainToInstance(type as unknown as new () => object, plain)
      : (plain: object) => Object.assign(new (type as unknown as new () => object)(), plain);
    // validateSync skips asynchronous rules, and class-validator cannot tell a custom rule that returns a
    // promise: only classes whose every rule is a synchronous built-in are validated synchronously.
    const sync = metadatas.every((m) => {
      if (m.type === 'nestedValidation' || m.type === 'promiseValidation') return false;
      if (m.type !== 'customValidation') return true;
      const constraints = storage.getTargetValidatorConstraints(m.constraintCls);
      return constraints.length > 0 && constraints.every((c) => !c.async && c.name !== undefined && this.syncNames.has(c.name));
    });
    // A valid payload (the common case) is told by the class's rules looked up once; an invalid one is validated
    // again by class-validator, whose errors are the ones reported.
    const valid = sync ? this.validityCheck(metadatas, storage) : undefined;
    return {
      rules: metadatas.length > 0,
      toInstance,
      sync,
      validate: valid
        ? (instance) => (valid(instance) ? [] : v.validateSync(instance, options))
        : sync
          ? (instance) => v.validateSync(instance, options)
          : (instance) => v.validate(instance, options),
    };
  }

  /**
   * class-validator's "no errors" for one class, with the lookups its executor repeats on every call done once:
   * the class's rules grouped by property with their checkers, run in the executor's order (a property's
   * conditions, `@IsOptional` or `@ValidateIf`, then each rule's `validateIf` and checker, with the same
   * arguments). That lookup grows with the number of validated classes in the app (measured in
   * `npm run bench:validation`). Undefined when the options or the rules use what this does not mirror
   * (whitelisting, skipping missing values, `each`, nested rules): then validateSync runs every time.
   */
  private validityCheck(metadatas: ValidationMetadata[], storage: ReturnType<ClassValidatorApi['getMetadataStorage']>): ((instance: object) => boolean) | undefined {
    const o = this.options;
    if (o.whitelist || o.skipMissingProperties || o.skipNullProperties || o.skipUndefinedProperties) return undefined;
    type Rule = { metadata: ValidationMetadata; check: (value: unknown, args: object) => unknown };
    const byProperty = new Map<string, { conditions: Array<(object: object, value: unknown) => unknown>; rules: Rule[] }>();
    for (const metadata of metadatas) {
      if (metadata.each) return undefined;
      let property = byProperty.get(metadata.propertyName);
      if (!property) byProperty.set(metadata.propertyName, (property = { conditions: [], rules: [] }));
      if (metadata.type === 'conditionalValidation') {
        const condition = metadata.constraints[0];
        if (typeof condition !== 'function') return undefined;
        property.conditions.push(condition as (object: object, value: unknown) => unknown);
      } else if (metadata.type === 'customValidation' || metadata.type === 'isDefined') {
        const constraints = storage.getTargetValidatorConstraints(metadata.constraintCls);
        if (constraints.length === 0) return undefined;
        for (const constraint of constraints) {
          const instance = constraint.instance;
          if (typeof instance?.validate !== 'function') return undefined;
          property.rules.push({ metadata, check: instance.validate.bind(instance) });
        }
      } else if (metadata.type !== 'whitelistValidation') {
        return undefined; // @Allow (whitelist) has no effect without the whitelist option; anything else is not mirrored
      }
    }
    const properties = [...byProperty];
    return (object) => {
      const targetName = (object.constructor as Function | undefined)?.name;
      for (const [property, { conditions, rules }] of properties) {
        const value = (object as Record<string, unknown>)[property];
        // Like the executor, every condition is called, and the property is skipped unless all hold.
        let applies = true;
        for (const condition of conditions) applies = Boolean(condition(object, value)) && applies;
        if (!applies) continue;
        for (const { metadata, check } of rules) {
          if (metadata.validateIf && !metadata.validateIf(object, value)) continue;
          const outcome = check(value, { targetName, property, object, value, constraints: metadata.constraints });
          // A promise (a rule that is asynchronous after all) is left to validateSync, as is every failure.
          if (!outcome || typeof (outcome as PromiseLike<unknown>).then === 'function') return false;
        }
      }
      return true;
    };
  }

  private needsTransformer(type: Function): boolean {
    if (!this.transformer) return false;
    const storage = this.transformerStorage;
    if (!storage) return true; // class-transformer's storage could not be read: always use it, to be safe
    for (let t: unknown = type; typeof t === 'function' && t !== Function.prototype; t = Object.getPrototypeOf(t)) {
      const target = t as Function;
      if (
        storage._typeMetadatas!.has(target) ||
        storage._transformMetadatas!.has(target) ||
        storage._exposeMetadatas!.has(target) ||
        storage._excludeMetadatas!.has(target)
      ) {
        return true;
      }
    }
    return false;
  }
}

/** Flattens nested class-validator errors into `path: message` entries. */
function flattenValidationErrors(errors: ValidationError[], parent = ''): Problem[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((problem) => ({ path, problem }));
    return own.concat(flattenValidationErrors(error.children ?? [], path));
  });
}

/**
 * Imports class-validator and class-transformer if they are installed (once per process), and builds the
 * integration for these validator options. Undefined when class-validator is not installed: then no class can
 * carry its decorators, so nothing needs it, unless the app asks for a class-validator feature by name.
 */
export async function loadClassValidation(options: ClassValidatorOptions): Promise<ClassValidation | undefined> {
  loading ??= importPackages();
  const { validator, transformer, storage } = await loading;
  return validator && new ClassValidation(validator, transformer, storage, options);
}

async function importPackages(): Promise<{ validator?: ClassValidatorApi; transformer?: ClassTransformerApi; storage?: TransformerStorage }> {
  const validator = await importOptional<ClassValidatorApi>(() => import('class-validator'), 'class-validator', 'getMetadataStorage');
  if (!validator) {
    // Decorators of a class-validator that this package cannot import (installed elsewhere in the tree):
    // validating nothing would be silent, so say so.
    if ((globalThis as { classValidatorMetadataStorage?: unknown }).classValidatorMetadataStorage !== undefined) {
      throw new InvalidOptionError('validation', messages.classValidatorUnreachable());
    }
    return {};
  }
  const transformer = await importOptional<ClassTransformerApi>(() => import('class-transformer'), 'class-transformer', 'plainToInstance');
  return { validator, transformer, storage: transformer && (await transformerStorage(transformer)) };
}

/**
 * class-transformer's decorator storage, to tell which classes use its decorators. It is internal, so it is
 * used only after checking that it is the live one (it sees a decorator just applied); otherwise undefined.
 */
async function transformerStorage(transformer: ClassTransformerApi): Promise<TransformerStorage | undefined> {
  try {
    const module = (await import('class-transformer/cjs/storage.js')) as { defaultMetadataStorage?: TransformerStorage };
    const storage = module.defaultMetadataStorage;
    if (!storage || ![storage._typeMetadatas, storage._transformMetadatas, storage._exposeMetadatas, storage._excludeMetadatas].every((m) => m instanceof Map)) {
      return undefined;
    }
    class Probe {}
    transformer.Type(() => String)(Probe.prototype, 'probe');
    return storage.findTypeMetadata(Probe, 'probe') !== undefined ? storage : undefined;
  } catch {
    return undefined;
  }
}

async function importOptional<T>(load: () => Promise<unknown>, name: string, probe: string): Promise<T | undefined> {
  try {
    const module = (await load()) as Record<string, unknown>;
    // Both are CommonJS: Node exposes their exports as named exports, some loaders only as `default`.
    return (probe in module ? module : module.default) as T;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((error as Error).message).includes(name)) {
      return undefined;
    }
    throw error;
  }
}
