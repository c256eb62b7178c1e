import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

/**
 * The demo worker: the queue's worker loops, plus a small HTTP server for its metrics and health (GET
 * /metrics, GET /health). Needs REDIS_URL and SMTP_URL; optional METRICS_PORT (default 3001), HOST
 * (default 127.0.0.1), QUEUE_PREFIX (default `rq`) and MAIL_FROM.
 */
async function bootstrap(): Promise<void> {
  // abortOnError: false makes a bad configuration throw (and exit 1 below) instead of process.abort().
  const app = await NestFactory.create(AppModule, { abortOnError: false });
  // SIGTERM / SIGINT: finish running jobs (up to shutdownTimeout), release the rest, close connections.
  app.enableShutdownHooks();
  const port = Number(process.env.METRICS_PORT ?? 3001);
  const host = process.env.HOST ?? '127.0.0.1';
  await app.listen(port, host);
  const url = `http://${host}:${(app.getHttpServer().address() as { port: number }).port}`;
  new Logger('DemoWorker').log(`handling the "email" queue; metrics on ${url}/metrics, health on ${url}/health`);
  // When a parent process started this one (`npm run demo`, the e2e test), tell it we are ready, and stop
  // when it goes away, so that no worker outlives a demo that was killed.
  if (process.send) {
    process.send({ ready: true });
    process.once('disconnect', () => void app.close());
  }
}

bootstrap().catch((error: unknown) => {
  new Logger('DemoWorker').error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
