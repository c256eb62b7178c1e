import { INestApplication, ValidationPipe } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { QueueInspector } from 'nestjs-redis-queue';
import { deletePrefixKeys } from 'nestjs-redis-queue/testing';
import request from 'supertest';
import { AppModule } from '../src/app.module.js';
import { Mailer } from '../src/mailer.js';

/** Polls `check` until it returns something, or fails after `timeoutMs`. */
async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`nothing after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('users (quick start)', () => {
  const prefix = `users-test-${process.pid}`; // this file's keys, apart from other files'
  const sent: Array<{ to: string; subject: string }> = [];
  let app: INestApplication;

  beforeAll(async () => {
    process.env.QUEUE_PREFIX = prefix; // REDIS_URL comes from the global setup
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideProvider(Mailer) // the outside world: record instead of sending
      .useValue({ send: async (to: string, subject: string) => void sent.push({ to, subject }) })
      .compile();
    app = moduleRef.createNestApplication();
    app.useGlobalPipes(new ValidationPipe({ whitelist: true, transform: true }));
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await deletePrefixKeys(process.env.REDIS_URL!, prefix); // leave nothing behind in Redis
  });

  it('registers a user at once and sends the welcome email about two seconds later', async () => {
    const response = await request(app.getHttpServer()).post('/users').send({ email: 'ada@example.com', name: 'Ada' }).expect(201);
    expect(response.body.jobId).toMatch(/^\d+$/);
    const mail = await eventually(() => sent.find((m) => m.to === 'ada@example.com'));
    expect(mail.subject).toBe('Welcome, Ada! (attempt 1/5)');
  });

  it('dead-letters an undeliverable address without retrying it', async () => {
    const response = await request(app.getHttpServer()).post('/users').send({ email: 'x@example.invalid', name: 'X' }).expect(201);
    const dead = await eventually(() => app.get(QueueInspector).deadJob('email', response.body.jobId));
    expect(dead.error.message).toBe('undeliverable domain');
    expect(dead.attemptsMade).toBe(1);
  });

  it('answers 400 naming the field when the body is invalid', async () => {
    const response = await request(app.getHttpServer()).post('/users').send({ email: 'nope', name: 'Ada' }).expect(400);
    expect(response.body.message).toContain('email must be an email');
  });
});
