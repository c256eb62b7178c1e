import { Injectable } from '@nestjs/common';

/** The payment provider (a real app calls its SDK here). */
@Injectable()
export class PaymentApi {
  readonly charged: Array<{ merchant: string; orderId: string; cents: number; idempotencyKey: string }> = [];

  async charge(merchant: string, orderId: string, cents: number, idempotencyKey: string): Promise<void> {
    this.charged.push({ merchant, orderId, cents, idempotencyKey });
  }
}
