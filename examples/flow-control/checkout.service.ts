import { Injectable } from '@nestjs/common';
import { QueueProducer } from 'nestjs-redis-queue';
import { ChargeQueue, MailQueue } from './queues.js';

@Injectable()
export class CheckoutService {
  constructor(private readonly producer: QueueProducer) {}

  async placeOrder(merchant: string, orderId: string, cents: number, email: string): Promise<void> {
    // One group per merchant: a merchant importing 100,000 orders delays another merchant's charge by one
    // turn at most.
    await this.producer.enqueue(ChargeQueue, { merchant, orderId, cents }, { group: merchant });
    // Priority 1 runs first: the receipt does not wait behind the newsletter.
    await this.producer.enqueue(MailQueue, { to: email, subject: `Receipt for ${orderId}`, body: '...' }, { priority: 1 });
  }

  async newsletter(to: string[], body: string): Promise<void> {
    // Priority 9: after every mail without a priority (the middle) and before 10.
    await this.producer.enqueueMany(
      MailQueue,
      to.map((address) => ({ payload: { to: address, subject: 'News', body }, options: { priority: 9 } })),
    );
  }
}
