import 'reflect-metadata';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

async function bootstrap() {
  const app = await NestFactory.create(AppModule);
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, transform: true }));
  app.enableShutdownHooks(); // SIGTERM: stop claiming, finish in-flight jobs, release the rest, close
  await app.listen(process.env.PORT ?? 3000);
}

void bootstrap(); // a function, not top-level await: CommonJS apps cannot await at the top level (TS1309)
