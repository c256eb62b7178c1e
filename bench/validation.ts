// `npm run bench:validation`: the CPU cost of payload validation per job, without Redis: what the Nest layer
// runs before a handler (and at enqueue) for a class-validator class and for Standard Schema validators,
// against the class-validator path as it was before per-class plans, and where class-validator's time goes.
// Prints one table (ns per job, median of rounds) and, as its last line, a JSON object with every figure.
import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { IsEmail, IsInt, validate, validateSync, ValidationError } from 'class-validator';
import * as v from 'valibot';
import { z } from 'zod';
import { ClassValidation, loadClassValidation } from '../libs/redis-queue/src/class-validator.integration.js';
import { JobContext, PayloadValidationError } from '../libs/redis-queue/src/engine/index.js';
import { HandlerCheck } from '../libs/redis-queue/src/payload.checks.js';
import { schemaEnqueueCheck, schemaHandlerCheck } from '../libs/redis-queue/src/standard-schema.integration.js';
import { emailJob, EmailJob, WelcomeEmail } from './payload.js';

const args = process.argv.slice(2);
const value = (flag: string) => args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
const JOBS = Number(value('--jobs') ?? 100_000);
const ROUNDS = Number(value('--rounds') ?? 7);
/** Jobs started before their outcomes are awaited, as a worker with this concurrency runs them. */
const CONCURRENCY = 1000;
const OPTIONS = { forbidUnknownValues: true };

const job = {} as JobContext;
/** What each job's handler does: nothing, like the benchmark's no-op handler. */
const handler = (_payload: unknown, _job: JobContext): unknown => undefined;
const asyncHandler = async (_payload: unknown, _job: JobContext): Promise<void> => undefined;

/** Fresh JSON payloads, as the worker decodes them from Redis (a new object per job). */
function payloads(count: number): object[] {
  return Array.from({ length: count }, (_, i) => JSON.parse(JSON.stringify(emailJob(i))) as object);
}

/** Runs `process` over every payload as the worker does: sync outcomes settle at once, promises in batches. */
async function drive(process: (payload: unknown) => unknown, inputs: readonly unknown[]): Promise<void> {
  let pending: PromiseLike<unknown>[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const outcome = process(inputs[i]);
    if (typeof (outcome as PromiseLike<unknown> | undefined)?.then === 'function') pending.push(outcome as PromiseLike<unknown>);
    if (pending.length >= CONCURRENCY) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
}

interface Row {
  name: string;
  nsPerJob: number;
}

async function measure(name: string, make: () => (payload: unknown) => unknown, inputs: () => unknown[]): Promise<Row> {
  const process = make();
  await drive(process, inputs().slice(0, 20_000)); // warm-up: let the JIT settle
  const samples: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const data = inputs();
    const start = performance.now();
    await drive(process, data);
    samples.push(((performance.now() - start) * 1e6) / data.length);
  }
  samples.sort((a, b) => a - b);
  return { name, nsPerJob: samples[Math.floor(samples.length / 2)] };
}

/** The handler path before per-class plans, verbatim: an async transformer (plainToInstance + validate) awaited in an async wrapper. */
function previousHandlerPath(): (payload: unknown) => unknown {
  const flatten = (errors: ValidationError[]): string[] => errors.flatMap((e) => Object.values(e.constraints ?? {}));
  const transform = async (payload: unknown): Promise<object> => {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new PayloadValidationError('not an object');
    const instance = plainToInstance(WelcomeEmail, payload);
    const problems = flatten(await validate(instance, OPTIONS));
    if (problems.length > 0) throw new PayloadValidationError(problems.join('; '));
    return instance;
  };
  return async (payload) => asyncHandler(await transform(payload), job);
}

/** The same, at enqueue: `await validate(instance)` for each class instance. */
function previousEnqueuePath(): (payload: unknown) => unknown {
  return async (payload) => {
    const errors = await validate(payload as object, OPTIONS);
    if (errors.length > 0) throw new Error('invalid');
  };
}

/** The Nest layer's handler path now: the check calls the handler directly when every rule is synchronous. */
function currentHandlerPath(check: HandlerCheck): (payload: unknown) => unknown {
  return (payload) => check(payload, job, handler);
}

/** Many DTO classes in one app: class-validator scans every class with rules on each validation. */
function registerClasses(count: number): void {
  for (let i = 0; i < count; i++) {
    class Dto {
      name!: string;
    }
    IsInt()(Dto.prototype, 'name');
  }
}

async function main(): Promise<void> {
  const classValidation = (await loadClassValidation(OPTIONS)) as ClassValidation;
  const classCheck = classValidation.handlerCheck(WelcomeEmail)!;
  const valibot = v.object({
    to: v.pipe(v.string(), v.email()),
    template: v.picklist(['welcome', 'reminder']),
    userId: v.pipe(v.number(), v.integer(), v.minValue(1)),
    t: v.optional(v.number()),
    d: v.optional(v.number()),
    w: v.optional(v.pipe(v.number(), v.integer())),
  });
  const zod = z.object({
    to: z.email(),
    template: z.enum(['welcome', 'reminder']),
    userId: z.number().int().min(1),
    t: z.number().optional(),
    d: z.number().optional(),
    w: z.number().int().optional(),
  });
  const instances = () => payloads(JOBS).map((p) => Object.assign(new WelcomeEmail(), p));
  const plain = () => payloads(JOBS);

  const rows: Row[] = [];
  const add = async (name: string, make: () => (payload: unknown) => unknown, inputs = plain) => {
    const row = await measure(name, make, inputs);
    rows.push(row);
    process.stderr.write(`${name}: ${row.nsPerJob.toFixed(0)} ns/job\n`);
  };

  // Before the handler.
  await add('handler: no validation', () => (payload) => handler(payload, job));
  await add('handler: class-validator as before (plainToInstance + awaited validate)', previousHandlerPath);
  await add('handler: class-validator, now', () => currentHandlerPath(classCheck));
  await add('handler: valibot', () => currentHandlerPath(schemaHandlerCheck(valibot)));
  await add('handler: zod', () => currentHandlerPath(schemaHandlerCheck(zod)));
  // At enqueue.
  await add('enqueue: class-validator instance as before (awaited validate)', previousEnqueuePath, instances);
  await add('enqueue: class-validator instance, now', () => (payload) => classValidation.instanceCheck(payload as object, (type, problems) => `${type}: ${problems}`), instances);
  await add('enqueue: valibot token', () => schemaEnqueueCheck(valibot, 'email'));
  await add('enqueue: zod token', () => schemaEnqueueCheck(zod, 'email'));
  // Where class-validator's time goes.
  await add('part: plainToInstance', () => (payload) => plainToInstance(WelcomeEmail, payload));
  await add('part: new + Object.assign (used when no class-transformer decorator)', () => (payload) => Object.assign(new WelcomeEmail(), payload));
  await add('part: validate (async)', () => (payload) => validate(payload as object, OPTIONS), instances);
  await add('part: validateSync', () => (payload) => validateSync(payload as object, OPTIONS), instances);
  await add('part: validateSync of the @IsEmail rule alone', () => (payload) =>
    validateSync(Object.assign(new OnlyEmail(), { to: (payload as EmailJob).to }), OPTIONS),
  );
  registerClasses(200);
  const bigAppCheck = (await loadClassValidation(OPTIONS))!.handlerCheck(WelcomeEmail)!;
  await add('handler: class-validator, now, with 200 other validated classes in the app', () => currentHandlerPath(bigAppCheck));

  const width = Math.max(...rows.map((r) => r.name.length));
  process.stdout.write(`\nPayload validation cost, median of ${ROUNDS} rounds of ${JOBS} jobs (Node ${process.version})\n\n`);
  process.stdout.write(`${'path'.padEnd(width)}  ns/job   jobs/s per core\n`);
  for (const row of rows) {
    process.stdout.write(`${row.name.padEnd(width)}  ${row.nsPerJob.toFixed(0).padStart(6)}   ${Math.round(1e9 / row.nsPerJob).toLocaleString('en-US').padStart(12)}\n`);
  }
  process.stdout.write(`${JSON.stringify(Object.fromEntries(rows.map((r) => [r.name, Math.round(r.nsPerJob)])))}\n`);
}

class OnlyEmail {
  @IsEmail()
  to!: string;
}

await main();
