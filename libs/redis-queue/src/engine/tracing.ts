import { LIBRARY_VERSION } from './version.js';
import type { JobObserver, JobOutcome, ObservedJob } from './observer.js';

/**
 * OpenTelemetry tracing, when `@opentelemetry/api` is installed (an optional peer, loaded with import()
 * only when tracing is asked for): the producer stores the W3C traceparent of the trace context active
 * at enqueue in the job, and each attempt runs in its own CONSUMER span, a child of that context and
 * linked to it, with the queue, the job id and the attempt as attributes. Without an OpenTelemetry SDK
 * registered, the API hands out no-op spans and nothing is stored.
 */
export interface Tracing {
  /** The traceparent of the active trace context, if it has a valid span: for `ProducerSettings.traceparent`. */
  traceparent(): string | undefined;
  /** Runs each attempt in its span: for `WorkerSettings.observers`. */
  observer: JobObserver;
}

/** The part of `@opentelemetry/api` used here (typed here, so that no declaration refers to the package). */
interface SpanContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
  isRemote?: boolean;
}
interface Span {
  spanContext(): SpanContext;
  setAttribute(key: string, value: string | number | boolean): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  recordException(exception: Error | string): void;
  end(): void;
}
type Context = object;
interface Tracer {
  startSpan(name: string, options: { kind: number; attributes: Record<string, string | number>; links: Array<{ context: SpanContext }> }, context: Context): Span;
}
/** A tracer provider: the global one is a proxy that hands out the API's no-op provider until an SDK registers. */
interface TracerProvider {
  getDelegate?(): unknown;
}
export interface OpenTelemetryApi {
  trace: {
    getTracer(name: string, version?: string): Tracer;
    getTracerProvider?(): TracerProvider;
    getSpanContext(context: Context): SpanContext | undefined;
    setSpanContext(context: Context, spanContext: SpanContext): Context;
    setSpan(context: Context, span: Span): Context;
    isSpanContextValid(spanContext: SpanContext): boolean;
  };
  context: { active(): Context; with<T>(context: Context, fn: () => T): T };
  ROOT_CONTEXT: Context;
  SpanKind: { CONSUMER: number };
  SpanStatusCode: { OK: number; ERROR: number };
  ProxyTracerProvider?: new () => TracerProvider;
}

/** Name of the tracer (the instrumentation scope) the spans come from. */
export const TRACER_NAME = 'nestjs-redis-queue';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Loads `@opentelemetry/api`; undefined when it is not installed (then nothing else is loaded or changed). */
export async function loadTracing(): Promise<Tracing | undefined> {
  let api: OpenTelemetryApi;
  try {
    api = (await import('@opentelemetry/api')) as unknown as OpenTelemetryApi;
  } catch {
    return undefined;
  }
  return createTracing(api);
}

/** Tracing over a loaded `@opentelemetry/api` (tests and tools may pass their own). */
export function createTracing(api: OpenTelemetryApi): Tracing {
  const tracer = api.trace.getTracer(TRACER_NAME, LIBRARY_VERSION);
  const spans = new WeakMap<ObservedJob, Span>();
  // The API's no-op provider (a singleton: what a proxy with no delegate returns). While the global provider
  // still hands it out, no SDK is registered: every span would be a no-op, so attempts run without one.
  // Asked per attempt, so an SDK registered after the app started is picked up. An API without these
  // (older, or a stand-in) is taken as traced.
  const noop = api.ProxyTracerProvider ? new api.ProxyTracerProvider().getDelegate?.() : undefined;
  const sdkRegistered = (): boolean => {
    if (noop === undefined || !api.trace.getTracerProvider) return true;
    const provider = api.trace.getTracerProvider();
    return (provider.getDelegate ? provider.getDelegate() : provider) !== noop;
  };
  const traceparent = (): string | undefined => {
    const sc = api.trace.getSpanContext(api.context.active());
    if (!sc || !api.trace.isSpanContextValid(sc)) return undefined;
    return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 1) === 1 ? '01' : '00'}`;
  };
  const observer: JobObserver = {
    watching: sdkRegistered,
    run(job, handler) {
      if (!sdkRegistered()) return handler();
      const enqueued = parseTraceparent(job.traceparent);
      const parent = enqueued ? api.trace.setSpanContext(api.ROOT_CONTEXT, enqueued) : api.ROOT_CONTEXT;
      const span = tracer.startSpan(
        `process ${job.queue}`,
        {
          kind: api.SpanKind.CONSUMER,
          attributes: {
            'messaging.system': TRACER_NAME,
            'messaging.operation.type': 'process',
            'messaging.destination.name': job.queue,
            'messaging.message.id': job.id,
            'rq.queue': job.queue,
            'rq.job.id': job.id,
            'rq.job.attempt': job.attempt,
            'rq.job.max_attempts': job.maxAttempts,
            'rq.job.trace_id': job.traceId,
          },
          links: enqueued ? [{ context: enqueued }] : [],
        },
        parent,
      );
      spans.set(job, span);
      return api.context.with(api.trace.setSpan(parent, span), handler);
    },
    finished(job, outcome: JobOutcome, _runMs, error) {
      const span = spans.get(job);
      if (!span) return;
      spans.delete(job);
      span.setAttribute('rq.job.outcome', outcome);
      if (outcome === 'completed') {
        span.setStatus({ code: api.SpanStatusCode.OK });
      } else if (error !== undefined && (outcome === 'retried' || outcome === 'dead')) {
        const e = error instanceof Error ? error : new Error(String(error));
        span.recordException(e);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: e.message });
      }
      span.end();
    },
  };
  return { traceparent, observer };
}

/** The span context a W3C traceparent names, or undefined when it is absent or not one. */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  const m = value === undefined ? null : TRACEPARENT.exec(value);
  if (!m || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return undefined;
  return { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16) & 1, isRemote: true };
}
