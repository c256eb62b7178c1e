import { Injectable } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsEmail, IsInt, IsNotEmpty, Max, Min, ValidateNested } from 'class-validator';
import { InvalidOptionError, InvalidPayloadError, JobContext, QueueHandler } from 'nestjs-redis-queue';
import { rawClient, waitFor } from './support/helpers.js';
import { QueueApp, startQueueApp } from './support/queue-app.js';

class Address {
  @IsNotEmpty()
  city!: string;
}

class WelcomeEmail {
  @IsEmail()
  email!: string;

  @IsInt()
  @Min(0)
  @Max(150)
  age!: number;

  @ValidateNested()
  @Type(() => Address)
  address!: Address;

  constructor(email: string, age: number, city: string) {
    this.email = email;
    this.age = age;
    this.address = Object.assign(new Address(), { city });
  }

  greeting(): string {
    return `Welcome, ${this.email}`;
  }
}

const handled: Array<{ payload: WelcomeEmail; isInstance: boolean; greeting: string }> = [];

@Injectable()
class Handlers {
  @QueueHandler('welcome', { attempts: 5 })
  async welcome(payload: WelcomeEmail, _job: JobContext) {
    handled.push({ payload, isInstance: payload instanceof WelcomeEmail, greeting: payload.greeting() });
  }

  @QueueHandler('plain')
  async plain(_payload: unknown) {}
}

describe('payload validation and limits', () => {
  let q: QueueApp;

  beforeAll(async () => {
    q = await startQueueApp([Handlers], { maxPayloadBytes: 64 * 1024 });
  });
  afterAll(() => q.close());

  const expectNothingStored = async (queue: string) => {
    expect(await q.inspector.counts(queue)).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
    const redis = rawClient();
    expect(await redis.keys(`${q.prefix}:{${queue}}:*`)).toEqual([]);
    redis.disconnect();
  };

  it('hands the handler a validated instance of its payload class', async () => {
    await q.producer.enqueue('welcome', new WelcomeEmail('ada@example.com', 36, 'London'));
    await waitFor(() => handled.length > 0, 5000, 'the handler');
    const [{ payload, isInstance, greeting }] = handled;
    expect(isInstance).toBe(true);
    expect(payload.address).toBeInstanceOf(Address);
    expect(greeting).toBe('Welcome, ada@example.com');
  });

  it('rejects an invalid instance at enqueue, naming each failing property, and stores nothing', async () => {
    const redis = rawClient();
    const seqBefore = await redis.get(`${q.prefix}:{welcome}:seq`);
    const bad = new WelcomeEmail('not-an-email', 200, '');
    const error = await q.producer.enqueue('welcome', bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPayloadError);
    const message = (error as Error).message;
    expect(message).toContain('email: email must be an email');
    expect(message).toContain('age: age must not be greater than 150');
    expect(message).toContain('address.city: city should not be empty');
    expect((error as InvalidPayloadError).problems.map((p) => p.path)).toEqual(['email', 'age', 'address.city']);
    expect(await redis.get(`${q.prefix}:{welcome}:seq`)).toBe(seqBefore); // no id was even drawn
    expect(await q.inspector.counts('welcome')).toMatchObject({ ready: 0, delayed: 0 });
    redis.disconnect();
  });

  it('dead-letters an invalid payload at consume time without retrying it', async () => {
    // A producer that does not know the class (another service, or raw JSON) sends a bad payload.
    const id = await q.producer.enqueue('welcome', { email: 'nope', age: -1, address: { city: 'Paris' } });
    const dead = await waitFor(() => q.inspector.deadJob('welcome', id), 5000, 'the dead letter');
    expect(dead.error.name).toBe('PayloadValidationError');
    expect(dead.error.message).toContain('email: email must be an email');
    expect(dead.error.message).toContain('age: age must not be less than 0');
    expect(dead.attemptsMade).toBe(1);
    expect(dead.payload).toEqual({ email: 'nope', age: -1, address: { city: 'Paris' } });
    expect(handled.filter((h) => h.payload.email === 'nope')).toHaveLength(0);
  });

  it('dead-letters a payload that is not an object for a class-typed handler', async () => {
    const id = await q.producer.enqueue('welcome', 'just a string');
    const dead = await waitFor(() => q.inspector.deadJob('welcome', id), 5000, 'the dead letter');
    expect(dead.error.message).toContain('expected an object, got string');
  });

  it.each([
    ['a BigInt', { id: 1n }, 'payload.id is a BigInt'],
    ['a cycle', (() => { const a: Record<string, unknown> = {}; a.self = a; return a; })(), 'payload.self refers back'],
    ['a function', { send: () => undefined }, 'payload.send is a function'],
    ['an oversize payload', { blob: 'x'.repeat(70 * 1024) }, 'exceeds the 65536-byte cap'],
    ['a __proto__ key', JSON.parse('{"user":{"__proto__":{"admin":true}}}'), 'payload.user.__proto__ is a "__proto__" key'],
  ])('rejects %s at enqueue and stores nothing', async (_what, payload, message) => {
    await expect(q.producer.enqueue('plain', payload)).rejects.toThrow(InvalidPayloadError);
    await expect(q.producer.enqueue('plain', payload)).rejects.toThrow(message);
    await expectNothingStored('plain');
  });

  it('rejects a whole batch when one item is invalid, naming it, and stores nothing', async () => {
    const items: { payload: unknown }[] = [{ payload: { ok: 1 } }, { payload: { bad: 2n } }, { payload: { ok: 3 } }];
    await expect(q.producer.enqueueMany('plain', items)).rejects.toThrow('job 1: Invalid payload: payload.bad is a BigInt');
    await expectNothingStored('plain');
  });

  it.each([
    [{ delay: -1 }, 'delay'],
    [{ jobId: 'a}b' }, 'jobId'],
    [{ jobId: '123' }, 'jobId'],
    [{ attempts: 0 }, 'attempts'],
    [{ backof: { type: 'fixed', delay: 1 } }, 'backof'],
  ])('rejects enqueue options %j naming "%s"', async (options, field) => {
    const error = await q.producer.enqueue('plain', {}, options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).field).toBe(field);
    await expectNothingStored('plain');
  });

  it('rejects an invalid queue name', async () => {
    await expect(q.producer.enqueue('bad{queue}', {})).rejects.toThrow('Invalid option "queue"');
  });
});
