import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { RedisQueueHealthIndicator } from 'nestjs-redis-queue';

// GET /health: 200 while Redis answers, this app's worker loops are alive and the email queue keeps up;
// 503 with the reason otherwise. The app imports TerminusModule and RedisQueueModule.
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly queues: RedisQueueHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.queues.isHealthy('queues', { queues: { email: { maxReadyAge: 60_000, maxDead: 100 } } }),
    ]);
  }
}
