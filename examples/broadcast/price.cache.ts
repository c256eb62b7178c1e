import { Injectable } from '@nestjs/common';
import { BroadcastHandler, QueueProducer } from 'nestjs-redis-queue';
import { PriceChanged } from './price-changed.js';

/** An in-memory cache in every instance of the app; a change made through one instance clears it in all. */
@Injectable()
export class PriceCache {
  private readonly prices = new Map<string, number>();

  constructor(private readonly producer: QueueProducer) {}

  get(sku: string): number | undefined {
    return this.prices.get(sku);
  }

  set(sku: string, price: number): void {
    this.prices.set(sku, price);
  }

  /** After the price changed in the database: every running instance forgets it (this one included). */
  async invalidate(sku: string): Promise<void> {
    const event = Object.assign(new PriceChanged(), { sku });
    await this.producer.broadcast('prices', event); // validated like a job payload, then published
  }

  // Runs once in every instance subscribed when the broadcast is sent. The payload is validated against
  // PriceChanged first; a handler that throws is logged and stays subscribed.
  @BroadcastHandler('prices')
  forget(event: PriceChanged): void {
    this.prices.delete(event.sku);
  }
}
