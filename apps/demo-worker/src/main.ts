import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

/**
 * The demo worker: no HTTP server, only the queue's worker loops. Needs REDIS_URL and SMTP_URL; optional
 * QUEUE_PREFIX (default `rq`) and MAIL_FROM.
 */
async function bootstrap(): Promise<void> {
  // abortOnError: false makes a bad configuration throw (and exit 1 below) instead of process.abort().
  const app = await NestFactory.createApplicationContext(AppModule, { abortOnError: false });
  // SIGTERM / SIGINT: finish running jobs (up to shutdownTimeout), release the rest, close connections.
  app.enableShutdownHooks();
  new Logger('DemoWorker').log('handling the "email" queue');
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
