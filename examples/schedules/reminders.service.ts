import { Injectable } from '@nestjs/common';
import { QueueProducer } from 'nestjs-redis-queue';

@Injectable()
export class RemindersService {
  constructor(private readonly producer: QueueProducer) {}

  /** A reminder job every `minutes` for this customer until stop(); calling it again replaces the schedule. */
  start(customerId: string, minutes: number): Promise<boolean> {
    return this.producer.schedule('reminders', `customer-${customerId}`, {
      every: minutes * 60_000,
      payload: { customerId },
      missed: 'skip', // after an outage, wait for the next tick instead of sending a late one
      options: { attempts: 2, timeout: 10_000 },
    });
  }

  /** Removes the schedule and the job it enqueued ahead for its next tick. */
  stop(customerId: string): Promise<boolean> {
    return this.producer.unschedule('reminders', `customer-${customerId}`);
  }
}
