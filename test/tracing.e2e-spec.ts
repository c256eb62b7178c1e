import { Injectable } from '@nestjs/common';
import * as api from '@opentelemetry/api';
import { context, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import { createTracing, OpenTelemetryApi } from '../libs/redis-queue/src/engine/tracing.js';
import { exporter, registerTracing } from '../examples/operations/tracing.js';
import { rawClient, waitFor } from './support/helpers.js';
import { startQueueApp } from './support/queue-app.js';

const attempts = new Map<string, number>();

@Injectable()
class Handlers {
  @QueueHandler('traced', { attempts: 3, backoff: { type: 'fixed', delay: 10 } })
  async run(payload: { key: string; failFirst?: boolean }, job: JobContext) {
    // The handler runs inside its attempt's span: its own spans are children of it.
    trace.getTracer('app').startSpan('send mail').end();
    attempts.set(payload.key, job.attempt);
    if (payload.failFirst && job.attempt === 1) throw new Error('SMTP timeout');
  }
}

const spansNamed = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);
const attr = (span: ReadableSpan, key: string) => span.attributes[key];

// The shared exporter stops for good when a provider shuts down: these tests unregister theirs instead.
describe('tracing before an OpenTelemetry SDK is registered', () => {
  afterEach(() => {
    trace.disable();
    context.disable();
  });

  it('watches no attempt while no SDK is registered, and every attempt once one is', () => {
    const tracing = createTracing(api as unknown as OpenTelemetryApi);
    expect(tracing.observer.watching?.()).toBe(false);
    registerTracing();
    expect(tracing.observer.watching?.()).toBe(true);
    trace.disable();
    expect(tracing.observer.watching?.()).toBe(false);
  });

  it('an app started before the SDK runs its jobs without spans, then traces those after it registered', async () => {
    exporter.reset();
    const q = await startQueueApp([Handlers]);
    try {
      const before = await q.producer.enqueue('traced', { key: 'before-sdk' });
      await waitFor(() => attempts.get('before-sdk') === 1, 10_000, 'the job before the SDK');
      registerTracing();
      const after = await q.producer.enqueue('traced', { key: 'after-sdk' });
      await waitFor(() => spansNamed('process traced').length === 1, 10_000, 'the span of the job after the SDK');
      expect(spansNamed('process traced').map((span) => attr(span, 'rq.job.id'))).toEqual([after]);
      expect(before).not.toBe(after);
    } finally {
      await q.close();
    }
  });
});

describe('tracing with @opentelemetry/api', () => {
  let provider: ReturnType<typeof registerTracing>;
  beforeAll(() => (provider = registerTracing()));
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
  });
  beforeEach(() => exporter.reset());

  it('carries the trace context of the enqueue to a span per attempt, linked to it, with queue, id and attempt', async () => {
    const q = await startQueueApp([Handlers]);
    try {
      const tracer = trace.getTracer('app');
      let enqueueSpan: { traceId: string; spanId: string } | undefined;
      const id = await tracer.startActiveSpan('POST /users', async (span) => {
        enqueueSpan = span.spanContext();
        try {
          return await q.producer.enqueue('traced', { key: 'a', failFirst: true });
        } finally {
          span.end();
        }
      });
      await waitFor(() => spansNamed('process traced').length === 2, 10_000, 'two attempt spans');

      const [first, second] = spansNamed('process traced').sort((x, y) => Number(attr(x, 'rq.job.attempt')) - Number(attr(y, 'rq.job.attempt')));
      for (const [span, attempt] of [[first, 1], [second, 2]] as const) {
        expect(span.spanContext().traceId).toBe(enqueueSpan!.traceId);
        expect(span.parentSpanContext?.spanId).toBe(enqueueSpan!.spanId);
        expect(span.links.map((l) => l.context.spanId)).toEqual([enqueueSpan!.spanId]);
        expect(span.kind).toBe(4); // SpanKind.CONSUMER
        expect(span.attributes).toMatchObject({
          'rq.queue': 'traced',
          'rq.job.id': id,
          'rq.job.attempt': attempt,
          'messaging.destination.name': 'traced',
          'messaging.message.id': id,
          'messaging.operation.type': 'process',
        });
      }
      expect(first.status).toMatchObject({ code: 2, message: 'SMTP timeout' }); // ERROR
      expect(first.attributes['rq.job.outcome']).toBe('retried');
      expect(first.events.map((e) => e.name)).toEqual(['exception']);
      expect(second.status.code).toBe(1); // OK
      expect(second.attributes['rq.job.outcome']).toBe('completed');

      // The handler's own span is a child of its attempt's.
      const mails = spansNamed('send mail');
      expect(mails.map((s) => s.parentSpanContext?.spanId).sort()).toEqual([first.spanContext().spanId, second.spanContext().spanId].sort());
    } finally {
      await q.close();
    }
  });

  it('stores the W3C traceparent in the job only when a span is active, and not with tracing: false', async () => {
    const tracer = trace.getTracer('app');
    const recordOf = async (prefix: string) => {
      const redis = rawClient();
      const [record] = await redis.lrange(`${prefix}:{untraced}:ready`, -1, -1);
      redis.disconnect();
      return record;
    };
    const on = await startQueueApp([]);
    const off = await startQueueApp([], { tracing: false });
    try {
      let traceparent = '';
      await tracer.startActiveSpan('request', async (span) => {
        const sc = span.spanContext();
        traceparent = `00-${sc.traceId}-${sc.spanId}-01`;
        await on.producer.enqueue('untraced', { n: 1 });
        await off.producer.enqueue('untraced', { n: 1 });
        span.end();
      });
      expect(await recordOf(on.prefix)).toContain(`"tp":"${traceparent}"`);
      expect(await recordOf(off.prefix)).not.toContain('"tp"');

      await on.producer.enqueue('untraced', { n: 2 }); // no active span
      expect(await recordOf(on.prefix)).not.toContain('"tp"');
    } finally {
      await on.close();
      await off.close();
    }
  });

  it('runs a job enqueued outside any trace in a root span of its own', async () => {
    const q = await startQueueApp([Handlers]);
    try {
      await q.producer.enqueue('traced', { key: 'root' });
      await waitFor(() => spansNamed('process traced').length === 1, 10_000, 'the attempt span');
      const [span] = spansNamed('process traced');
      expect(span.parentSpanContext).toBeUndefined();
      expect(span.links).toEqual([]);
      expect(span.attributes['rq.job.attempt']).toBe(1);
    } finally {
      await q.close();
    }
  });
});
