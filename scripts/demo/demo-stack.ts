import { Redis } from 'ioredis';
import { freePort } from 'nestjs-redis-queue/testing';
import { QueueInspector } from 'nestjs-redis-queue';
import { AppProcess, DemoApp } from './app-process.js';
import { SmtpSink, SmtpSinkOptions } from './smtp-sink.js';

export interface DemoStackOptions {
  redisUrl: string;
  /** Key prefix of the queues (`QUEUE_PREFIX` of both apps). */
  prefix: string;
  /** The SMTP sink's folder and answers. */
  smtp: SmtpSinkOptions;
  /** Port of the API on 127.0.0.1. Default: a free one. */
  apiPort?: number;
  /** Port of the worker's metrics and health on 127.0.0.1. Default: a free one. */
  workerPort?: number;
  /** Every line the apps print. */
  onLine?: (app: DemoApp, line: string) => void;
}

/**
 * Everything the demo runs besides Redis: an SMTP sink, the worker and the API as separate processes, and
 * a Redis client with a `QueueInspector` to watch the queue. Shared by `npm run demo` and its e2e test.
 */
export class DemoStack {
  private constructor(
    readonly sink: SmtpSink,
    readonly worker: AppProcess,
    readonly api: AppProcess,
    readonly apiUrl: string,
    /** The worker's metrics (/metrics) and health (/health). */
    readonly workerUrl: string,
    readonly redis: Redis,
    readonly inspector: QueueInspector,
  ) {}

  static async start(options: DemoStackOptions): Promise<DemoStack> {
    const started: Array<{ stop(): Promise<unknown> }> = [];
    try {
      const sink = await SmtpSink.start(options.smtp);
      started.push(sink);
      const apiPort = options.apiPort ?? (await freePort());
      const workerPort = options.workerPort ?? (await freePort());
      const env = {
        REDIS_URL: options.redisUrl,
        QUEUE_PREFIX: options.prefix,
        SMTP_URL: sink.url,
        PORT: String(apiPort),
        METRICS_PORT: String(workerPort),
        HOST: '127.0.0.1',
        // Plain log lines: the demo re-prints them and tests read them.
        NO_COLOR: '1',
      };
      const start = async (name: DemoApp) => {
        const app = await AppProcess.start(name, { env, onLine: (line) => options.onLine?.(name, line) });
        started.push(app);
        return app;
      };
      const [worker, api] = await Promise.all([start('demo-worker'), start('demo-api')]);
      const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 3 });
      started.push({ stop: () => redis.quit() });
      return new DemoStack(sink, worker, api, `http://127.0.0.1:${apiPort}`, `http://127.0.0.1:${workerPort}`, redis, new QueueInspector(redis, options.prefix));
    } catch (error) {
      // Stop what did start, the apps first (they still talk to the sink).
      for (const part of started.reverse()) await part.stop().catch(() => undefined);
      throw error;
    }
  }

  /** Stops the API, then the worker (letting running jobs finish), then the sink; closes the Redis client. */
  async stop(): Promise<void> {
    await this.api.stop();
    await this.worker.stop();
    await this.sink.stop();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Deletes every key under `prefix` (for a Redis that outlives the demo). Uses SCAN: not for hot paths. */
export async function deleteQueueKeys(redis: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}
