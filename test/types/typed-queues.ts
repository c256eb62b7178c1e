// Compile-time tests of typed queues: `npm run typecheck` compiles this file (it is never run). Each
// `@ts-expect-error` line must be an error, or the type check fails ("unused '@ts-expect-error'").
import { Injectable } from '@nestjs/common';
import * as v from 'valibot';
import { z } from 'zod';
import {
  defineQueue,
  JobContext,
  OnQueueEvent,
  QueueAdmin,
  QueueHandler,
  QueueInspector,
  QueueProducer,
  QueueRef,
  RedisQueueModule,
} from 'nestjs-redis-queue';
import type { QueueEvent } from 'nestjs-redis-queue';
import { JobProducer } from '../../libs/redis-queue/src/engine/index.js';

class WelcomeEmail {
  email!: string;
  name!: string;
}

const EmailQueue = defineQueue<WelcomeEmail>('email');
const ReportQueue = defineQueue('report', { schema: v.object({ month: v.pipe(v.string(), v.isoDate()), rows: v.number() }) });
// A schema that transforms: producers send its input, handlers receive its output.
const ImportQueue = defineQueue('import', { schema: z.object({ count: z.string().transform((s) => Number(s)) }) });
const ClassQueue = defineQueue('class', { payloadType: WelcomeEmail });

// Tokens carry their types.
const emailRef: QueueRef<WelcomeEmail> = EmailQueue;
const reportRef: QueueRef<{ month: string; rows: number }> = ReportQueue;
const importRef: QueueRef<{ count: number }, { count: string }> = ImportQueue;
const classRef: QueueRef<WelcomeEmail> = ClassQueue;
// @ts-expect-error: a token of another payload type
const wrongRef: QueueRef<{ month: string }> = EmailQueue;
void [emailRef, reportRef, importRef, classRef, wrongRef];

export async function produce(producer: QueueProducer, engine: JobProducer, inspector: QueueInspector, admin: QueueAdmin): Promise<void> {
  await producer.enqueue(EmailQueue, { email: 'ada@example.com', name: 'Ada' });
  await producer.enqueue(EmailQueue, Object.assign(new WelcomeEmail(), { email: 'ada@example.com', name: 'Ada' }), { delay: 10 });
  // @ts-expect-error: a required property is missing
  await producer.enqueue(EmailQueue, { email: 'ada@example.com' });
  // @ts-expect-error: a property of the wrong type
  await producer.enqueue(EmailQueue, { email: 'ada@example.com', name: 42 });
  // @ts-expect-error: an unknown property
  await producer.enqueue(EmailQueue, { email: 'ada@example.com', name: 'Ada', extra: true });
  // @ts-expect-error: not an object at all
  await producer.enqueue(EmailQueue, 'ada@example.com');

  await producer.enqueue(ReportQueue, { month: '2026-11-01', rows: 3 });
  // @ts-expect-error: the schema's type, not any object
  await producer.enqueue(ReportQueue, { month: '2026-11-01' });

  await producer.enqueue(ImportQueue, { count: '3' });
  // @ts-expect-error: producers send the schema's input (a string), not its output
  await producer.enqueue(ImportQueue, { count: 3 });

  await producer.enqueueMany(EmailQueue, [{ payload: { email: 'a@example.com', name: 'A' } }, { payload: { email: 'b@example.com', name: 'B' }, options: { attempts: 2 } }]);
  // @ts-expect-error: one item of the wrong shape
  await producer.enqueueMany(EmailQueue, [{ payload: { email: 'a@example.com', name: 'A' } }, { payload: { email: 'b@example.com' } }]);

  // The engine's producer takes tokens too.
  await engine.enqueue(EmailQueue, { email: 'ada@example.com', name: 'Ada' });
  // @ts-expect-error: the same checks as the Nest producer
  await engine.enqueue(EmailQueue, { email: 'ada@example.com' });
  await engine.enqueueMany(ReportQueue, [{ payload: { month: '2026-11-01', rows: 1 } }]);

  // Plain names keep working with any payload, or with an explicit type argument.
  await producer.enqueue('email', { anything: ['goes'] });
  await producer.enqueue<WelcomeEmail>('email', { email: 'ada@example.com', name: 'Ada' });
  // @ts-expect-error: an explicit type argument is checked
  await producer.enqueue<WelcomeEmail>('email', { email: 'ada@example.com' });

  // Steering and inspecting take names and tokens.
  await producer.schedule(ReportQueue, 'monthly', { cron: '0 6 1 * *', payload: { month: '2026-11-01', rows: 0 } });
  // @ts-expect-error: a schedule's payload is the token's payload type
  await producer.schedule(ReportQueue, 'monthly', { cron: '0 6 1 * *', payload: { month: 11 } });
  await producer.unschedule(ReportQueue, 'monthly');
  await producer.cancel(EmailQueue, '1');
  await producer.waitForResult<number>(ReportQueue, '1', { timeout: 1000 });
  await inspector.counts(EmailQueue);
  await inspector.overview(EmailQueue);
  await inspector.schedules(EmailQueue);
  await inspector.job(EmailQueue, '1');
  await inspector.jobs(ReportQueue, 'dead', { limit: 10 });
  await inspector.deadJobs(ReportQueue, { limit: 10 });
  await inspector.deadJob(ImportQueue, '1');
  await inspector.counts('email');
  await admin.pause(EmailQueue);
  await admin.resume(EmailQueue);
  await admin.retryDead(EmailQueue, ['1']);
  await admin.removeDead(ReportQueue);
  await admin.promote(ImportQueue, '1');
  await admin.configure(EmailQueue, { globalConcurrency: 10 });
  // @ts-expect-error: neither a name nor a token
  await admin.pause(42);
  // @ts-expect-error: neither a name nor a token
  await inspector.counts({ queue: 'email' });
}

@Injectable()
export class Handlers {
  @QueueHandler(EmailQueue, { concurrency: 20 })
  async send(payload: WelcomeEmail, job: JobContext) {
    return `${payload.email} ${job.attempt}`;
  }

  // A wider parameter type accepts the queue's payloads.
  @QueueHandler(ClassQueue)
  async greet(payload: { name: string }) {
    return payload.name;
  }

  @QueueHandler(ReportQueue)
  build(payload: { month: string; rows: number }) {
    return payload.rows;
  }

  @QueueHandler(ImportQueue)
  import(payload: { count: number }) {
    return payload.count + 1;
  }

  // No parameter at all is fine.
  @QueueHandler(defineQueue<{ id: string }>('ping'))
  ping() {}

  // @ts-expect-error: the parameter type does not match the token's payload
  @QueueHandler(EmailQueue)
  wrongPayload(payload: { month: string }) {
    return payload.month;
  }

  // @ts-expect-error: handlers receive the schema's output (a number), not its input
  @QueueHandler(ImportQueue)
  wrongSide(payload: { count: string }) {
    return payload.count;
  }

  // @ts-expect-error: the second parameter is the JobContext
  @QueueHandler(EmailQueue)
  wrongJob(payload: WelcomeEmail, job: string) {
    return job;
  }

  // A handler option `schema` types the payload just as a token does.
  @QueueHandler('audit', { schema: v.object({ actor: v.string() }) })
  audit(payload: { actor: string }) {
    return payload.actor;
  }

  // @ts-expect-error: the parameter must accept the schema's output
  @QueueHandler('audit2', { schema: v.object({ actor: v.string() }) })
  auditWrong(payload: { actor: number }) {
    return payload.actor;
  }

  @OnQueueEvent(EmailQueue, 'completed')
  onEmailSent(event: QueueEvent) {
    return event.id;
  }

  // Plain names accept any parameter type, as before.
  @QueueHandler('legacy')
  legacy(payload: { whatever: boolean }, job: JobContext) {
    return [payload, job];
  }
}

// Module options: `consumers` takes names and tokens; `queues` takes handler options but the code-only ones.
RedisQueueModule.forRoot({
  connection: 'redis://127.0.0.1:6379',
  consumers: [EmailQueue, 'report'],
  queues: { email: { concurrency: 50, attempts: 8, backoff: { type: 'fixed', delay: 100 } }, report: { validate: false } },
});
RedisQueueModule.forRoot({
  connection: 'redis://127.0.0.1:6379',
  // @ts-expect-error: a schema belongs to the code, not to a deployment's overrides
  queues: { email: { schema: v.string() } },
});
RedisQueueModule.forRoot({
  connection: 'redis://127.0.0.1:6379',
  // @ts-expect-error: not a handler option
  queues: { email: { concurency: 5 } },
});
