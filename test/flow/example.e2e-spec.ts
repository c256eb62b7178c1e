import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { QueueAdmin, QueueInspector, RedisQueueModule } from 'nestjs-redis-queue';
import { ChargeHandlers } from '../../examples/flow-control/charge.handlers.js';
import { CheckoutService } from '../../examples/flow-control/checkout.service.js';
import { MailHandlers } from '../../examples/flow-control/mail.handlers.js';
import { MailRelay } from '../../examples/flow-control/mail.relay.js';
import { PaymentApi } from '../../examples/flow-control/payment.api.js';
import { ChargeQueue, MailQueue } from '../../examples/flow-control/queues.js';
import { redisUrl, uniquePrefix, waitFor } from '../support/helpers.js';

describe('flow control example (README)', () => {
  let app: INestApplicationContext;
  let admin: QueueAdmin;
  let inspector: QueueInspector;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [RedisQueueModule.forRoot({ connection: redisUrl(), prefix: uniquePrefix('flow-example'), checkRedisConfig: false })],
      providers: [MailHandlers, MailRelay, ChargeHandlers, PaymentApi, CheckoutService],
    }).compile();
    app = await moduleRef.init();
    admin = app.get(QueueAdmin);
    inspector = app.get(QueueInspector);
    // The handlers' rules are in Redis for every worker of the queues.
    await waitFor(async () => (await admin.configure(ChargeQueue, {})).groupRateLimit !== null, 10_000, 'the rules');
  });
  afterAll(() => app.close());

  it('stores the rules the handlers declare', async () => {
    expect(await admin.configure(MailQueue, {})).toEqual({
      rateLimit: { max: 100, duration: 1000 },
      globalConcurrency: null,
      groupConcurrency: null,
      groupRateLimit: null,
    });
    expect(await admin.configure(ChargeQueue, {})).toEqual({
      rateLimit: null,
      globalConcurrency: 25,
      groupConcurrency: 2,
      groupRateLimit: { max: 10, duration: 60_000 },
    });
  });

  it('sends the receipt before the newsletter that was enqueued first', async () => {
    const checkout = app.get(CheckoutService);
    const relay = app.get(MailRelay);
    await admin.pause(MailQueue);
    await checkout.newsletter(['a@example.com', 'b@example.com', 'c@example.com'], 'Spring sale');
    await checkout.placeOrder('acme', 'order-1', 1999, 'ada@example.com');
    await admin.resume(MailQueue);
    await waitFor(() => relay.sent.length === 4, 10_000, 'the mails');
    expect(relay.sent.map((m) => m.subject)).toEqual(['Receipt for order-1', 'News', 'News', 'News']);
  });

  it('a mail the relay pushes back runs again later, with no attempt spent', async () => {
    const relay = app.get(MailRelay);
    relay.sent.length = 0;
    relay.busy.push(100, 100, 100, 100, 100); // five push-backs: more than the 3 attempts a job has
    await app.get(CheckoutService).placeOrder('acme', 'order-2', 500, 'ada@example.com');
    await waitFor(() => relay.sent.length === 1, 20_000, 'the receipt');
    expect(relay.sent[0].subject).toBe('Receipt for order-2');
    expect(await inspector.counts(MailQueue)).toMatchObject({ dead: 0 });
  });

  it("a merchant's burst neither delays another merchant's charge by more than a turn nor exceeds its quota", async () => {
    const checkout = app.get(CheckoutService);
    const payments = app.get(PaymentApi);
    await waitFor(() => payments.charged.length === 2, 10_000, 'the charges of the earlier orders');
    payments.charged.length = 0;
    await admin.pause(ChargeQueue);
    for (let i = 0; i < 30; i++) await checkout.placeOrder('bigshop', `big-${i}`, 100, 'shop@example.com');
    await checkout.placeOrder('cornershop', 'corner-1', 250, 'corner@example.com');
    await admin.resume(ChargeQueue);
    await waitFor(() => payments.charged.some((c) => c.merchant === 'cornershop'), 10_000, "the corner shop's charge");
    expect(payments.charged.findIndex((c) => c.merchant === 'cornershop')).toBeLessThanOrEqual(1);
    // 10 a minute for bigshop: another merchant's charge after its tenth still runs (a fence: claims happened).
    await waitFor(() => payments.charged.filter((c) => c.merchant === 'bigshop').length === 10, 10_000, "bigshop's quota");
    await checkout.placeOrder('thirdshop', 'third-1', 300, 'third@example.com');
    await waitFor(() => payments.charged.some((c) => c.merchant === 'thirdshop'), 10_000, "the third shop's charge");
    expect(payments.charged.filter((c) => c.merchant === 'bigshop')).toHaveLength(10);
    expect(new Set(payments.charged.map((c) => c.idempotencyKey)).size).toBe(payments.charged.length);
  });
});
