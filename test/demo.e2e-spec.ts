import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { QueueProducer, RedisQueueModule } from 'nestjs-redis-queue';
import { EMAIL_QUEUE } from '../apps/demo-worker/src/email.job.js';
import { deleteQueueKeys, DemoStack } from '../scripts/demo/demo-stack.js';
import { DASHBOARD_PASSWORD, DASHBOARD_USER } from '../apps/demo-api/src/dashboard.guard.js';
import { GREYLISTED_ADDRESS, register, REJECTED_ADDRESS, SINK_RULES } from '../scripts/demo/scenario.js';
import { parseMessage, ReceivedMail } from '../scripts/demo/smtp-sink.js';
import { rawClient, redisUrl, uniquePrefix, waitFor } from './support/helpers.js';

// The two demo apps as separate processes (started as `npm run demo` starts them), on the run's Redis
// under their own key prefix, sending to a real SMTP server that refuses one address for good (550) and
// another once (451).
describe('demo apps', () => {
  const prefix = uniquePrefix('demo');
  const outbox = mkdtempSync(join(tmpdir(), 'rq-demo-outbox-'));
  let stack: DemoStack;

  beforeAll(async () => {
    stack = await DemoStack.start({ redisUrl: redisUrl(), prefix, smtp: { outbox, ...SINK_RULES } });
  }, 120_000); // two apps compiled on the fly: allow for a busy machine

  afterAll(async () => {
    await stack?.stop();
    const redis = rawClient();
    await deleteQueueKeys(redis, prefix).finally(() => redis.quit());
    rmSync(outbox, { recursive: true, force: true });
  });

  /** Waits for `check`; on a timeout the error carries the worker's output, which usually says why. */
  async function eventually<T>(check: () => T | Promise<T>, what: string): Promise<NonNullable<T>> {
    try {
      return await waitFor(check, 30_000, what);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- demo-worker output ---\n${stack.worker.output(60)}`, { cause: error });
    }
  }

  const mailOfJob = (jobId: string | undefined): ReceivedMail | undefined =>
    stack.sink.mails.find((mail) => mail.headers['x-job-id'] === jobId);

  it('answers an invalid registration with a 400 that names the field, and enqueues nothing', async () => {
    const response = await register(stack.apiUrl, { email: 'not-an-email', name: 'Ada' });
    expect(response.status).toBe(400);
    expect(response.body.message).toEqual(['email must be an email']);
    expect(await stack.inspector.counts(EMAIL_QUEUE)).toEqual({ ready: 0, delayed: 0, active: 0, dead: 0 });
  });

  it('reports health with the queue counts', async () => {
    const response = await fetch(`${stack.apiUrl}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', email: { ready: 0, delayed: 0, active: 0, dead: 0 } });
  });

  it('mounts the dashboard behind its login, and the worker serves metrics and health', async () => {
    const refused = await fetch(`${stack.apiUrl}/queues`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Basic realm="queues"/);
    const login = `Basic ${Buffer.from(`${DASHBOARD_USER}:${DASHBOARD_PASSWORD}`).toString('base64')}`;
    const page = await fetch(`${stack.apiUrl}/queues`, { headers: { authorization: login } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<base href="/queues/">');
    const snapshot = (await (await fetch(`${stack.apiUrl}/queues/api/snapshot`, { headers: { authorization: login } })).json()) as { workers: unknown[] };
    expect(snapshot.workers).toEqual([expect.objectContaining({ queues: [{ queue: EMAIL_QUEUE, concurrency: 5 }] })]);

    const health = await fetch(`${stack.workerUrl}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', info: { queues: { status: 'up', workers: [{ queue: EMAIL_QUEUE, status: 'up' }] } } });
    const metrics = await (await fetch(`${stack.workerUrl}/metrics`)).text();
    expect(metrics).toMatch(/^rq_queue_jobs\{queue="email",state="ready"\} \d+$/m);
    expect(metrics).toContain('# TYPE rq_job_run_seconds histogram');
  });

  it('mails a welcome at once and a reminder no earlier than asked', async () => {
    const response = await register(stack.apiUrl, { email: 'ada@example.com', name: 'Ada Lovelace', remindInSeconds: 2 });
    expect(response.status).toBe(201);
    const { jobId, reminderJobId } = response.body;
    expect(jobId).toEqual(expect.any(String));
    expect(reminderJobId).toEqual(expect.any(String));

    const welcome = await eventually(() => mailOfJob(jobId), 'the welcome mail');
    expect(welcome.recipients).toEqual(['ada@example.com']);
    // Read back from the .eml file, as a user of the demo would.
    const onDisk = parseMessage(readFileSync(welcome.file, 'utf8'));
    expect(onDisk.to).toBe('ada@example.com');
    expect(onDisk.from).toBe('Demo <no-reply@example.com>');
    expect(onDisk.subject).toBe('Welcome, Ada Lovelace!');
    expect(onDisk.text).toContain('Hi Ada Lovelace,\n\nthanks for signing up.');
    expect(onDisk.headers['x-job-attempt']).toBe('1');

    const reminder = await eventually(() => mailOfJob(reminderJobId), 'the reminder mail');
    expect(reminder.recipients).toEqual(['ada@example.com']);
    expect(reminder.subject).toBe('Reminder: finish setting up your account');
    expect(reminder.text).toContain('Hi Ada Lovelace,\n\na short reminder to finish setting up your account.');
    // Not early: the request went out before the job was stored, and the job was due 2 s after that.
    expect(reminder.receivedAt.getTime() - response.sentAt.getTime()).toBeGreaterThanOrEqual(2000);
  });

  it('retries a mail the SMTP server turned away for now (451) and delivers it on the next attempt', async () => {
    const response = await register(stack.apiUrl, { email: GREYLISTED_ADDRESS, name: 'Alan Turing' });
    expect(response.status).toBe(201);

    const mail = await eventually(() => mailOfJob(response.body.jobId), 'the greylisted mail');
    expect(mail.recipients).toEqual([GREYLISTED_ADDRESS]);
    expect(mail.subject).toBe('Welcome, Alan Turing!');
    expect(mail.text).toContain('Hi Alan Turing,');
    expect(mail.headers['x-job-attempt']).toBe('2');
    expect(stack.sink.refusals.filter((r) => r.address === GREYLISTED_ADDRESS).map((r) => r.code)).toEqual([451]);
  });

  it('dead-letters a mail the SMTP server refused for good (550), after one attempt', async () => {
    const response = await register(stack.apiUrl, { email: REJECTED_ADDRESS, name: 'Nobody' });
    expect(response.status).toBe(201);
    const jobId = response.body.jobId!;

    const dead = await eventually(() => stack.inspector.deadJob(EMAIL_QUEUE, jobId), 'the dead-lettered job');
    expect(dead.error.name).toBe('PermanentJobError');
    expect(dead.error.message).toContain(`the SMTP server refused the mail to ${REJECTED_ADDRESS} for good: 550`);
    expect(dead.attemptsMade).toBe(1);
    expect(dead.payload).toEqual({ template: 'welcome', to: REJECTED_ADDRESS, name: 'Nobody' });
    expect(stack.sink.refusals.filter((r) => r.address === REJECTED_ADDRESS).map((r) => r.code)).toEqual([550]);
    expect(stack.sink.mailsTo(REJECTED_ADDRESS)).toEqual([]);
  });

  it('dead-letters a payload that breaks the worker-side rules, naming the field, without sending anything', async () => {
    // A producer that skips the EmailJob class (a plain object is not validated at enqueue).
    const producerApp: INestApplicationContext = await Test.createTestingModule({
      imports: [RedisQueueModule.forRoot({ connection: redisUrl(), prefix, consumers: false, checkRedisConfig: false })],
    }).compile();
    await producerApp.init();
    try {
      const jobId = await producerApp.get(QueueProducer).enqueue(EMAIL_QUEUE, { template: 'welcome', to: 'not-an-address', name: 'X' });
      const dead = await eventually(() => stack.inspector.deadJob(EMAIL_QUEUE, jobId), 'the invalid job in the dead-letter set');
      expect(dead.error.name).toBe('PayloadValidationError');
      expect(dead.error.message).toContain('to: to must be an email');
      expect(dead.attemptsMade).toBe(1);
      expect(stack.sink.mailsTo('not-an-address')).toEqual([]);
    } finally {
      await producerApp.close();
    }
  });

  it('ends with an empty queue, and both apps stop by themselves on SIGTERM', async () => {
    const counts = await eventually(async () => {
      const c = await stack.inspector.counts(EMAIL_QUEUE);
      return c.ready + c.delayed + c.active === 0 ? c : undefined;
    }, 'an empty queue');
    expect(counts.dead).toBe(2);

    // stop() sends SIGTERM (SIGKILL only after 15 s). Nest's shutdown hooks close the app, then re-raise the
    // signal; the worker's log shows that its loops were drained before that.
    const exits = await Promise.all([stack.api.stop(), stack.worker.stop()]);
    expect(exits).toEqual([
      { code: null, signal: 'SIGTERM' },
      { code: null, signal: 'SIGTERM' },
    ]);
    expect(stack.worker.output()).toContain('Worker loops stopped');
  });
});
