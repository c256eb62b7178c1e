import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { QueueCounts, QueueInspector } from 'nestjs-redis-queue';
import { EMAIL_QUEUE } from '../../demo-worker/src/email.job.js';

export interface HealthResponse {
  status: 'ok';
  /** Jobs per state in the email queue (also proves Redis answers). */
  email: QueueCounts;
}

@Controller('health')
export class HealthController {
  constructor(private readonly inspector: QueueInspector) {}

  @Get()
  async check(): Promise<HealthResponse> {
    try {
      return { status: 'ok', email: await this.inspector.counts(EMAIL_QUEUE) };
    } catch (error) {
      throw new ServiceUnavailableException({ status: 'error', error: (error as Error).message });
    }
  }
}
