import { Injectable } from '@nestjs/common';
import { IsInt, IsNotEmpty, Min } from 'class-validator';
import {
  defineQueue,
  InvalidOptionError,
  InvalidPayloadError,
  JobContext,
  QueueHandler,
  RedisQueueModule,
} from 'nestjs-redis-queue';
import { Test } from '@nestjs/testing';
import * as v from 'valibot';
import { z } from 'zod';
import { rawClient, redisUrl, uniquePrefix, waitFor } from './support/helpers.js';
import { QueueApp, startQueueApp } from './support/queue-app.js';

const SignupQueue = defineQueue('signup', {
  schema: v.object({ email: v.pipe(v.string(), v.email()), age: v.pipe(v.number(), v.integer(), v.minValue(0)) }),
});
/** Producers send strings; the handler receives numbers (the schema's output). */
const ImportQueue = defineQueue('import', { schema: z.object({ count: z.string().transform((s) => Number(s)) }) });
/** An asynchronous rule: the checks wait for it, at enqueue and before the handler. */
const CodeQueue = defineQueue('code', {
  schema: z.object({ code: z.string() }).refine(async (p) => p.code !== 'taken', { message: 'code is taken', path: ['code'] }),
});

class Order {
  @IsNotEmpty()
  sku!: string;

  @IsInt()
  @Min(1)
  quantity!: number;

  label(): string {
    return `${this.quantity} x ${this.sku}`;
  }
}
const OrderQueue = defineQueue('order', { payloadType: Order });

const seen: Record<string, unknown[]> = {};
const record = (queue: string, value: unknown) => (seen[queue] ??= []).push(value);

@Injectable()
class Handlers {
  @QueueHandler(SignupQueue)
  signup(payload: { email: string; age: number }, job: JobContext) {
    record('signup', { payload, queue: job.queue });
  }

  @QueueHandler(ImportQueue)
  import(payload: { count: number }) {
    record('import', payload);
  }

  @QueueHandler(CodeQueue)
  async code(payload: { code: string }) {
    record('code', payload);
  }

  @QueueHandler(OrderQueue, { attempts: 4 })
  order(payload: Order, job: JobContext) {
    record('order', { isOrder: payload instanceof Order, label: payload.label(), maxAttempts: job.maxAttempts });
  }

  @QueueHandler('audit', { schema: v.object({ actor: v.string(), at: v.optional(v.number(), 0) }) })
  audit(payload: { actor: string; at: number }) {
    record('audit', payload);
  }

  @QueueHandler('unchecked', { schema: v.object({ n: v.number() }), validate: false })
  unchecked(payload: unknown) {
    record('unchecked', payload);
  }
}

describe('typed queues and Standard Schema validation', () => {
  let q: QueueApp;

  beforeAll(async () => {
    q = await startQueueApp([Handlers]);
  });
  afterAll(() => q.close());

  const seq = async (queue: string) => {
    const redis = rawClient();
    const value = await redis.get(`${q.prefix}:{${queue}}:seq`);
    redis.disconnect();
    return value;
  };

  it('runs the handler of a token with the validated payload, and the inspector takes the token', async () => {
    await q.producer.enqueue(SignupQueue, { email: 'ada@example.com', age: 36 });
    await waitFor(() => seen.signup?.length, 5000, 'the handler');
    expect(seen.signup).toEqual([{ payload: { email: 'ada@example.com', age: 36 }, queue: 'signup' }]);
    expect(await q.inspector.counts(SignupQueue)).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
  });

  it('rejects a plain object that fails the token schema at enqueue, naming each issue, and stores nothing', async () => {
    const before = await seq('signup');
    const error = await q.producer.enqueue(SignupQueue, { email: 'nope', age: -1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect((error as Error).message).toMatch(/^Invalid payload for queue "signup" \(valibot schema\): email: Invalid email: Received "nope"; age: Invalid value: Expected >=0 but received -1\. Nothing was stored\.$/);
    expect((error as InvalidPayloadError).problems.map((p) => p.path)).toEqual(['email', 'age']);
    // Not an object at all: the issue has no path.
    await expect(q.producer.enqueue(SignupQueue, 'ada' as never)).rejects.toThrow('(valibot schema): Invalid type: Expected Object but received "ada"');
    expect(await seq('signup')).toBe(before);
  });

  it('rejects a whole batch when one item fails the schema, naming it', async () => {
    const before = await seq('signup');
    await expect(
      q.producer.enqueueMany(SignupQueue, [{ payload: { email: 'a@example.com', age: 1 } }, { payload: { email: 'b@example.com', age: 1.5 } }]),
    ).rejects.toThrow('job 1: Invalid payload for queue "signup" (valibot schema): age: Invalid integer');
    expect(await seq('signup')).toBe(before);
  });

  it('stores what the producer sent and hands the handler the schema output', async () => {
    await q.producer.enqueue(ImportQueue, { count: '41' });
    await waitFor(() => seen.import?.length, 5000, 'the handler');
    expect(seen.import).toEqual([{ count: 41 }]);
  });

  it('waits for asynchronous rules at enqueue and before the handler', async () => {
    await expect(q.producer.enqueue(CodeQueue, { code: 'taken' })).rejects.toThrow('(zod schema): code: code is taken');
    await q.producer.enqueue(CodeQueue, { code: 'free' });
    await waitFor(() => seen.code?.length, 5000, 'the handler');
    expect(seen.code).toEqual([{ code: 'free' }]);
    // A producer that bypasses the token (plain name) sends a taken code: dead-lettered before the handler.
    const id = await q.producer.enqueue('code', { code: 'taken' });
    const dead = await waitFor(() => q.inspector.deadJob(CodeQueue, id), 5000, 'the dead letter');
    expect(dead.error).toMatchObject({ name: 'PayloadValidationError', message: 'Payload failed its zod schema: code: code is taken' });
    expect(seen.code).toHaveLength(1);
  });

  it('checks a schedule payload against the token when the schedule is made', async () => {
    await expect(q.producer.schedule(SignupQueue, 'weekly', { every: 60_000, payload: { email: 'nope', age: 1 } })).rejects.toThrow(
      'Invalid payload for queue "signup" (valibot schema): email: Invalid email',
    );
    // No payload: each tick would carry null, which the schema refuses.
    await expect(q.producer.schedule(SignupQueue, 'weekly', { every: 60_000 })).rejects.toThrow('Expected Object but received null');
    expect(await q.inspector.schedules(SignupQueue)).toEqual([]);
  });

  it('dead-letters a payload that fails the schema before the handler, without retrying it', async () => {
    // Another service (or an old release) enqueues by name, without the token's check.
    const id = await q.producer.enqueue('signup', { email: 'ada@example.com', age: 'old' });
    const dead = await waitFor(() => q.inspector.deadJob(SignupQueue, id), 5000, 'the dead letter');
    expect(dead.error.name).toBe('PayloadValidationError');
    expect(dead.error.message).toBe('Payload failed its valibot schema: age: Invalid type: Expected number but received "old"');
    expect(dead.attemptsMade).toBe(1);
    expect(dead.payload).toEqual({ email: 'ada@example.com', age: 'old' });
    expect(seen.signup).toHaveLength(1);
  });

  it('validates plain objects at enqueue against a token class, and hands the handler an instance', async () => {
    const before = await seq('order');
    const error = await q.producer.enqueue(OrderQueue, { sku: '', quantity: 0 } as Order).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect((error as Error).message).toBe(
      'Invalid payload for queue "order" (Order): sku: sku should not be empty; quantity: quantity must not be less than 1. Nothing was stored.',
    );
    await expect(q.producer.enqueue(OrderQueue, [] as never)).rejects.toThrow('(Order): expected an object, got an array');
    expect(await seq('order')).toBe(before);
    await q.producer.enqueue(OrderQueue, { sku: 'tea', quantity: 2 } as Order);
    await q.producer.enqueue(OrderQueue, Object.assign(new Order(), { sku: 'cake', quantity: 1 }));
    await waitFor(() => seen.order?.length === 2, 5000, 'the handler');
    expect(seen.order).toEqual([
      { isOrder: true, label: '2 x tea', maxAttempts: 4 },
      { isOrder: true, label: '1 x cake', maxAttempts: 4 },
    ]);
  });

  it('runs a handler option schema before the handler, and validate: false turns it off', async () => {
    const bad = await q.producer.enqueue('audit', { actor: 7 });
    await q.producer.enqueue('audit', { actor: 'ops' });
    await q.producer.enqueue('unchecked', { n: 'not a number' });
    const dead = await waitFor(() => q.inspector.deadJob('audit', bad), 5000, 'the dead letter');
    expect(dead.error.message).toBe('Payload failed its valibot schema: actor: Invalid type: Expected string but received 7');
    await waitFor(() => seen.audit?.length && seen.unchecked?.length, 5000, 'the handlers');
    expect(seen.audit).toEqual([{ actor: 'ops', at: 0 }]); // the output, with the schema's default
    expect(seen.unchecked).toEqual([{ n: 'not a number' }]);
  });

  it('turns every check off with module option validation: false', async () => {
    const app = await startQueueApp([], { validation: false });
    try {
      const id = await app.producer.enqueue(SignupQueue, { email: 'nope', age: -1 });
      expect(id).toBe('1');
      expect(await app.inspector.counts(SignupQueue)).toMatchObject({ ready: 1 });
    } finally {
      await app.close();
    }
  });

  it('rejects bad definitions and handler options, naming the field', async () => {
    expect(() => defineQueue('a{b}')).toThrow('Invalid option "queue"');
    expect(() => defineQueue('x', { schema: { parse: () => 1 } } as never)).toThrow('Invalid option "defineQueue.schema": must be a Standard Schema validator');
    expect(() => defineQueue('x', { schema: v.string(), payloadType: Order } as never)).toThrow('cannot be combined with "payloadType"');
    expect(() => defineQueue('x', { schemas: v.string() } as never)).toThrow('Invalid option "defineQueue.schemas": is not a known option (did you mean "schema"?)');
    @Injectable()
    class BadSchema {
      @QueueHandler('bad-schema', { schema: 'string' as never })
      run() {}
    }
    const error = await Test.createTestingModule({
      imports: [RedisQueueModule.forRoot({ connection: redisUrl(), prefix: uniquePrefix(), checkRedisConfig: false })],
      providers: [BadSchema],
    })
      .compile()
      .then((ref) => ref.init())
      .catch((e: unknown) => e);
    expect((error as Error).message).toContain('@QueueHandler on BadSchema.run: Invalid option "schema": must be a Standard Schema validator');
    expect((error as { cause?: unknown }).cause).toBeInstanceOf(InvalidOptionError);
  });
});
