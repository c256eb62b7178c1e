import { Injectable } from '@nestjs/common';
import { QueueAdmin, QueueInspector } from 'nestjs-redis-queue';

/** Steering a queue from any app: every worker obeys, since the state lives in Redis. */
@Injectable()
export class Maintenance {
  constructor(
    private readonly admin: QueueAdmin,
    private readonly inspector: QueueInspector,
  ) {}

  async duringTheSmtpOutage(): Promise<void> {
    await this.admin.pause('email'); // nothing starts; running jobs finish; idle workers just wait
  }

  async afterTheSmtpOutage(): Promise<number> {
    await this.admin.resume('email');
    return this.admin.retryDead('email'); // every dead job back in the queue, attempts reset (batched)
  }

  async overview() {
    const [email, workers] = await Promise.all([this.inspector.overview('email'), this.admin.workers()]);
    return { counts: email.counts, paused: email.paused, workers: workers.map((w) => `${w.host}:${w.pid}`) };
  }
}
