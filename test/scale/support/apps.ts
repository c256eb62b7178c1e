import { INestApplicationContext, Injectable, LoggerService, Provider, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  JobContext,
  QueueHandler,
  QueueHandlerOptions,
  QueueInspector,
  QueueProducer,
  RedisQueueModule,
  RedisQueueModuleOptions,
} from 'nestjs-redis-queue';
import { uniquePrefix } from '../../support/helpers.js';

/**
 * Keeps what the apps log, so tests can assert on it (outages logged, no CROSSSLOT, the startup check ran).
 * Nest's logger override is process-wide, so one instance serves every app of a test file.
 * `SCALE_LOG=1` also prints it.
 */
export class CapturedLog implements LoggerService {
  readonly lines: string[] = [];
  private readonly print = process.env.SCALE_LOG === '1';

  log(message: unknown, context?: string) {
    this.add('log', message, context);
  }
  warn(message: unknown, context?: string) {
    this.add('warn', message, context);
  }
  error(message: unknown, stack?: string, context?: string) {
    this.add('error', message, context ?? stack);
  }
  debug(message: unknown, context?: string) {
    this.add('debug', message, context);
  }
  verbose() {}

  /** Lines logged from now on. */
  since(): () => string[] {
    const from = this.lines.length;
    return () => this.lines.slice(from);
  }

  private add(level: string, message: unknown, context?: string) {
    const line = `${level} [${context ?? ''}] ${String(message)}`;
    this.lines.push(line);
    if (this.lines.length > 20_000) this.lines.splice(0, 10_000);
    if (this.print) process.stderr.write(`${line}\n`);
  }
}

export const captured = new CapturedLog();

export interface ScaleApp {
  app: INestApplicationContext;
  producer: QueueProducer;
  inspector: QueueInspector;
  prefix: string;
  close(): Promise<void>;
}

/** A Nest application context with RedisQueueModule and the given handler providers (workers start on init). */
export async function startApp(
  options: Partial<RedisQueueModuleOptions> & Pick<RedisQueueModuleOptions, 'connection'>,
  providers: Provider[] = [],
): Promise<ScaleApp> {
  const prefix = options.prefix ?? uniquePrefix('scale');
  const moduleRef = await Test.createTestingModule({
    imports: [RedisQueueModule.forRoot({ checkRedisConfig: false, ...options, prefix })],
    providers,
  })
    .setLogger(captured)
    .compile();
  const app = await moduleRef.init();
  let closed: Promise<void> | undefined;
  return {
    app,
    producer: app.get(QueueProducer),
    inspector: app.get(QueueInspector),
    prefix,
    close: () => (closed ??= app.close()),
  };
}

/** A provider whose one method is the `@QueueHandler` of `queue` (queues chosen at run time). */
export function handlerFor(
  queue: string,
  run: (payload: unknown, job: JobContext) => unknown,
  options: QueueHandlerOptions = {},
): Type<unknown> {
  @Injectable()
  class Handler {
    @QueueHandler(queue, options)
    handle(payload: unknown, job: JobContext) {
      return run(payload, job);
    }
  }
  Object.defineProperty(Handler, 'name', { value: `Handler(${queue})` });
  return Handler;
}

/** Closes every app, ignoring failures (for finally blocks). */
export async function closeAll(apps: Array<ScaleApp | undefined>): Promise<void> {
  await Promise.all(apps.map((a) => a?.close().catch(() => undefined)));
}

/**
 * Boots a documented example module (examples/scaling) with `env` set, adds a handler for `queue`, and
 * checks that a job enqueued through it runs: the README's snippets work as written.
 */
export async function exampleRunsJobs(module: Type<unknown>, env: Record<string, string>, queue = 'email'): Promise<void> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  const ran: unknown[] = [];
  let app: INestApplicationContext | undefined;
  try {
    const moduleRef = await Test.createTestingModule({ imports: [module], providers: [handlerFor(queue, (p) => void ran.push(p))] })
      .setLogger(captured)
      .compile();
    app = await moduleRef.init();
    await app.get(QueueProducer).enqueue(queue, { to: 'ada@example.com' });
    const deadline = Date.now() + 10_000;
    while (ran.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    if (ran.length !== 1) throw new Error(`the example ran ${ran.length} job(s), expected 1`);
  } finally {
    await app?.close();
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}
