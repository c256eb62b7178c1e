import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { RedisQueueHealthIndicator } from 'nestjs-redis-queue';
import { EMAIL_QUEUE } from './email.job.js';

/** GET /health: Redis answers, the worker loops are alive, and the email queue keeps up (else 503, with the reason). */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly queues: RedisQueueHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.queues.isHealthy('queues', { queues: { [EMAIL_QUEUE]: { maxReadyAge: 60_000, maxDead: 100 } } })]);
  }
}
