import { Injectable } from '@nestjs/common';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import { PaymentApi } from './payment.api.js';
import { ChargeQueue } from './queues.js';
import type { Charge } from './queues.js';

@Injectable()
export class ChargeHandlers {
  constructor(private readonly payments: PaymentApi) {}

  @QueueHandler(ChargeQueue, {
    concurrency: 10, // in this process
    globalConcurrency: 25, // open requests to the API, across every process
    groupConcurrency: 2, // of which one merchant (the job's `group`) holds 2 at most
    groupRateLimit: { max: 10, duration: 60_000 }, // the API's quota per merchant
  })
  async charge(charge: Charge, job: JobContext) {
    // The job id as idempotency key: a charge that runs twice (after a crash) is charged once.
    await this.payments.charge(charge.merchant, charge.orderId, charge.cents, job.id);
  }
}
