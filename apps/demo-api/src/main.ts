import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

/** The demo API. Needs REDIS_URL; optional PORT (default 3000), HOST (default 127.0.0.1), QUEUE_PREFIX. */
async function bootstrap(): Promise<void> {
  // abortOnError: false makes a bad configuration throw (and exit 1 below) instead of process.abort().
  const app = await NestFactory.create(AppModule, { abortOnError: false });
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 3000);
  const host = process.env.HOST ?? '127.0.0.1';
  await app.listen(port, host);
  new Logger('DemoApi').log(`listening on http://${host}:${port}`);
  // When a parent process started this one (`npm run demo`, the e2e test), tell it we are ready, and stop
  // when it goes away, so that no API outlives a demo that was killed.
  if (process.send) {
    process.send({ ready: true });
    process.once('disconnect', () => void app.close());
  }
}

bootstrap().catch((error: unknown) => {
  new Logger('DemoApi').error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
