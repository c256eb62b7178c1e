import 'reflect-metadata';
import fc from 'fast-check';
import * as classValidator from 'class-validator';
import {
  Allow,
  IsBoolean,
  IsDefined,
  IsEmail,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  Min,
  ValidateIf,
  ValidateNested,
  ValidationError,
  validateSync,
  ValidatorConstraint,
  ValidatorConstraintInterface,
  Validate,
} from 'class-validator';
import { ClassValidation } from './class-validator.integration.js';
import { InvalidPayloadError, JobContext, PayloadValidationError } from './engine/index.js';
import type { ClassValidatorOptions } from './redis-queue.options.js';

// The per-class validity check must say "valid" exactly when class-validator's validateSync finds no error,
// and leave every error to validateSync. Checked on generated payloads, against validateSync itself.

class Email {
  @IsEmail() to!: string;
  @IsIn(['welcome', 'reminder']) template!: string;
  @IsInt() @Min(1) userId!: number;
  @IsOptional() @IsInt() @Max(10) retries?: number;
}

class Conditional {
  @IsBoolean() urgent!: boolean;
  @ValidateIf((o: Conditional) => o.urgent === true) @IsString() @Length(2, 5) pager?: string;
  @IsDefined() @Matches(/^[a-z]+$/) code!: string;
  @Allow() anything?: unknown;
  @IsInt({ groups: ['strict'] }) strictOnly?: number;
  @IsString({ always: true }) @IsOptional() label?: string;
}

class Child extends Email {
  @IsString() @Length(1, 3, { validateIf: (o: Child) => o.userId > 5 }) tag!: string;
}

@ValidatorConstraint({ name: 'even' })
class Even implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return typeof value === 'number' && value % 2 === 0;
  }
}

/** Rules the check does not mirror: validateSync decides every time. */
class NotMirrored {
  @IsInt({ each: true }) numbers!: number[];
  @ValidateNested() nested?: Email;
  @Validate(Even) even!: number;
}

const CLASSES = [Email, Conditional, Child, NotMirrored] as const;

const value = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -3, max: 12 }),
  fc.double({ noNaN: false }),
  fc.constantFrom('welcome', 'reminder', 'x', 'abc', 'ABC', 'a@b.co', 'not-an-email', '', 'abcdef'),
  fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
);
const payload = fc.record(
  {
    to: value,
    template: value,
    userId: value,
    retries: value,
    urgent: value,
    pager: value,
    code: value,
    anything: value,
    strictOnly: value,
    label: value,
    tag: value,
    numbers: value,
    even: value,
  },
  { requiredKeys: [] },
);
const OPTION_SETS: ClassValidatorOptions[] = [
  { forbidUnknownValues: true },
  {},
  { groups: ['strict'] },
  { always: true, strictGroups: true },
  { stopAtFirstError: true, dismissDefaultMessages: true },
  { skipMissingProperties: true },
  { whitelist: true, forbidNonWhitelisted: true },
];

/** The integration, with class-validator's validateSync counted. */
function integration(options: ClassValidatorOptions): { validation: ClassValidation; calls: () => number; asyncCalls: () => number } {
  let calls = 0;
  let asyncCalls = 0;
  const api = {
    ...classValidator,
    validateSync: (object: object, opts?: ClassValidatorOptions) => {
      calls++;
      return validateSync(object, opts);
    },
    validate: (object: object, opts?: ClassValidatorOptions) => {
      asyncCalls++;
      return classValidator.validate(object, opts);
    },
  };
  return { validation: new ClassValidation(api as never, undefined, undefined, options), calls: () => calls, asyncCalls: () => asyncCalls };
}

/** The check's error message (undefined: it passed), whether it settles at once or in a promise. */
async function messageOf(run: () => unknown): Promise<string | undefined> {
  try {
    await run();
    return undefined;
  } catch (error) {
    if (!(error instanceof PayloadValidationError || error instanceof InvalidPayloadError)) throw error;
    return error.message;
  }
}

describe('ClassValidation: the per-class validity check', () => {
  it.each(OPTION_SETS.map((options) => [JSON.stringify(options), options] as const))(
    'agrees with validateSync on every payload, errors included (options %s)',
    async (_name, options) => {
      const { validation } = integration(options);
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...CLASSES), payload, async (type, plain) => {
          const check = validation.handlerCheck(type);
          if (!check) return; // no rule applies with these options: nothing is validated
          const expected: ValidationError[] = validateSync(Object.assign(new type(), plain), options);
          let handed: unknown;
          const message = await messageOf(() => check(plain, {} as JobContext, (instance) => (handed = instance)));
          if (expected.length === 0) {
            expect(message).toBeUndefined();
            expect(handed).toBeInstanceOf(type);
          } else {
            // The reported errors are validateSync's own: every property it names is in the message.
            expect(handed).toBeUndefined();
            for (const error of expected) expect(message).toContain(`${error.property}: `);
          }
        }),
        { numRuns: 400 },
      );
    },
  );

  it('runs validateSync only for payloads it cannot call valid', async () => {
    const { validation, calls } = integration({ forbidUnknownValues: true });
    const check = validation.handlerCheck(Email)!;
    for (let i = 0; i < 100; i++) check({ to: `u${i}@example.com`, template: 'welcome', userId: 1 + i }, {} as JobContext, () => undefined);
    expect(calls()).toBe(0);
    expect(await messageOf(() => check({ to: 'nope', template: 'welcome', userId: 1 }, {} as JobContext, () => undefined))).toMatch(/to: .*email/);
    expect(calls()).toBe(1);
  });

  it('leaves classes and options it does not mirror to class-validator on every call', async () => {
    const mirrored = integration({});
    const notMirrored = integration({});
    const skipping = integration({ skipMissingProperties: true });
    mirrored.validation.handlerCheck(Conditional)!({ urgent: false, code: 'abc', strictOnly: 1 }, {} as JobContext, () => undefined);
    await notMirrored.validation.handlerCheck(NotMirrored)!({ numbers: [1], even: 2 }, {} as JobContext, () => undefined);
    skipping.validation.handlerCheck(Email)!({ to: 'a@b.co', template: 'welcome', userId: 2 }, {} as JobContext, () => undefined);
    // NotMirrored has a nested rule, so it is validated asynchronously (validate, not validateSync).
    expect([mirrored.calls(), skipping.calls()]).toEqual([0, 1]);
    expect(notMirrored.asyncCalls()).toBe(1);
  });

  it('checks at enqueue the same way, with the enqueue error', () => {
    const { validation, calls } = integration({ forbidUnknownValues: true });
    const check = validation.enqueueCheck(Email, 'email');
    expect(check({ to: 'a@b.co', template: 'reminder', userId: 3 })).toBeUndefined();
    expect(calls()).toBe(0);
    expect(() => check({ to: 'a@b.co', template: 'other', userId: 3 })).toThrow(InvalidPayloadError);
    expect(calls()).toBe(1);
  });
});
