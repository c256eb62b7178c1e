// The opt-in instrumentation of nestjs-redis-queue as its users turn it on, for the features phase's rows:
// `metrics` is RedisQueueMetrics (prom-client, a registry of its own) feeding on every attempt;
// `tracing` is the OpenTelemetry integration with a real SDK (spans recorded, batched and handed to an
// exporter that drops them), each job enqueued inside an active span so that it carries a traceparent.
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor, ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { createTracing, JobObserver, OpenTelemetryApi, QueueAdmin, QueueInspector, RedisClient } from '../../libs/redis-queue/src/engine/index.js';
import { RedisQueueMetrics } from '../../libs/redis-queue/src/metrics/redis-queue.metrics.js';
import { RedisQueueInstrumentation } from '../../libs/redis-queue/src/redis-queue.instrumentation.js';

export type Instrument = 'metrics' | 'tracing';

const dropping: SpanExporter = {
  export: (_spans: ReadableSpan[], done) => done({ code: 0 }),
  shutdown: async () => undefined,
};

let registered = false;

/** Registers the OpenTelemetry SDK once per process. */
export function registerTracing(): OpenTelemetryApi {
  if (!registered) {
    registered = true;
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropping, { maxQueueSize: 65_536 })] }));
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  }
  return { trace, context, ROOT_CONTEXT: context.active(), SpanKind: { CONSUMER: 4 }, SpanStatusCode: { OK: 1, ERROR: 2 } } as unknown as OpenTelemetryApi;
}

/** The worker side: the observer(s) the instrument adds to a QueueWorker. */
export async function workerObservers(instrument: Instrument | undefined, client: RedisClient, prefix: string): Promise<JobObserver[]> {
  if (instrument === 'tracing') return [createTracing(registerTracing()).observer];
  if (instrument === 'metrics') {
    const instrumentation = new RedisQueueInstrumentation();
    const metrics = new RedisQueueMetrics({ registry: new Registry() }, new QueueInspector(client, prefix), new QueueAdmin(client, prefix), instrumentation);
    await metrics.onModuleInit();
    return [...instrumentation.observers];
  }
  return [];
}

/** The producer side: the traceparent function for JobProducer, and a wrapper that runs enqueues in a span. */
export function producerTracing(instrument: Instrument | undefined): { traceparent?: () => string | undefined; inSpan: <T>(run: () => Promise<T>) => Promise<T> } {
  if (instrument !== 'tracing') return { inSpan: (run) => run() };
  const api = registerTracing();
  const tracing = createTracing(api);
  const tracer = trace.getTracer('bench');
  return {
    traceparent: tracing.traceparent,
    inSpan: (run) =>
      tracer.startActiveSpan('enqueue batch', async (span) => {
        try {
          return await run();
        } finally {
          span.end();
        }
      }),
  };
}
