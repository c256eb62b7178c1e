import { INestApplication, ValidationPipe } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { QueueInspector } from 'nestjs-redis-queue';
import request from 'supertest';
import { AppModule } from '../examples/quick-start/app.module.js';
import { Mailer } from '../examples/quick-start/mailer.js';

describe('quick start (README)', () => {
  let app: INestApplication;
  const sent: Array<{ to: string; subject: string }> = [];

  beforeAll(async () => {
    process.env.QUEUE_PREFIX = `quick-start-${Date.now()}`; // keys of this run only
    // REDIS_URL points at a throwaway Redis (Jest's global setup starts one; see "Testing your app").
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideProvider(Mailer)
      .useValue({ send: async (to: string, subject: string) => void sent.push({ to, subject }) })
      .compile();
    app = moduleRef.createNestApplication();
    app.useGlobalPipes(new ValidationPipe({ whitelist: true, transform: true }));
    await app.init();
  });

  afterAll(() => app.close());

  it('registers a user now and sends the welcome email about two seconds later', async () => {
    const email = `ada.${Date.now()}@example.com`;
    const response = await request(app.getHttpServer()).post('/users').send({ email, name: 'Ada' }).expect(201);
    expect(response.body.jobId).toMatch(/^\d+$/);
    expect(sent.find((m) => m.to === email)).toBeUndefined(); // delayed by 2 s: not sent yet

    const deadline = Date.now() + 10_000;
    while (!sent.some((m) => m.to === email) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(sent.find((m) => m.to === email)).toEqual({ to: email, subject: 'Welcome, Ada! (attempt 1/5)' });
  });

  it('dead-letters an undeliverable address without retrying it', async () => {
    const response = await request(app.getHttpServer()).post('/users').send({ email: 'x@example.invalid', name: 'X' });
    const inspector = app.get(QueueInspector);
    const deadline = Date.now() + 10_000;
    let dead = await inspector.deadJob('email', response.body.jobId);
    while (!dead && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      dead = await inspector.deadJob('email', response.body.jobId);
    }
    expect(dead?.error.message).toBe('undeliverable domain');
    expect(dead?.attemptsMade).toBe(1);
  });

  it('answers 400 naming the field when the body is invalid', async () => {
    const response = await request(app.getHttpServer()).post('/users').send({ email: 'nope', name: 'Ada' }).expect(400);
    expect(response.body.message).toContain('email must be an email');
  });
});
