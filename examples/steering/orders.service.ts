import { Injectable } from '@nestjs/common';
import { QueueProducer } from 'nestjs-redis-queue';

/** The source designs' delay-queue example: cancel an unpaid order after 30 minutes, unless it is paid. */
@Injectable()
export class OrdersService {
  constructor(private readonly producer: QueueProducer) {}

  async placed(orderId: string): Promise<void> {
    // Tracked, so that it can be found and cancelled by id; the id is ours, so we need not store it.
    await this.producer.enqueue('expire-order', { orderId }, { delay: 30 * 60_000, jobId: `expire-${orderId}`, track: true });
  }

  async paid(orderId: string): Promise<void> {
    const { outcome } = await this.producer.cancel('expire-order', `expire-${orderId}`);
    // 'removed': it was still waiting; 'aborting': it was running and is being stopped (it will not be
    // retried); 'finished': too late, it already ran; 'not-found': no such tracked job.
    if (outcome === 'finished') throw new Error(`order ${orderId} was already expired`);
  }
}
