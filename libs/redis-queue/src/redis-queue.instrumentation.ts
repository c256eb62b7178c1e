import { JobObserver, loadTracing } from './engine/index.js';
import type { ResolvedRedisQueueOptions } from './redis-queue.options.js';

/**
 * What operations integrations hook into the module: job observers around each attempt (metrics,
 * tracing), and the trace context carried by enqueued jobs. Filled while modules initialize; the worker
 * host and the producer read it at bootstrap.
 */
export class RedisQueueInstrumentation {
  private readonly list: JobObserver[] = [];
  /** Gives the W3C traceparent of the active trace context (tracing on and OpenTelemetry installed). */
  traceparent?: () => string | undefined;

  /** Watches every attempt of the worker loops this app starts (add it before the app boots). */
  addObserver(observer: JobObserver): void {
    this.list.push(observer);
  }

  get observers(): readonly JobObserver[] {
    return this.list;
  }
}

/** The module's instrumentation: tracing when it is on and `@opentelemetry/api` can be loaded. */
export async function createInstrumentation(options: ResolvedRedisQueueOptions): Promise<RedisQueueInstrumentation> {
  const instrumentation = new RedisQueueInstrumentation();
  if (options.tracing) {
    const tracing = await loadTracing();
    if (tracing) {
      instrumentation.traceparent = tracing.traceparent;
      instrumentation.addObserver(tracing.observer);
    }
  }
  return instrumentation;
}
