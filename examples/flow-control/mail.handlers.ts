import { Injectable } from '@nestjs/common';
import { QueueHandler, RateLimitedError } from 'nestjs-redis-queue';
import { MailRelay } from './mail.relay.js';
import { MailQueue } from './queues.js';
import type { Mail } from './queues.js';

@Injectable()
export class MailHandlers {
  constructor(private readonly relay: MailRelay) {}

  // At most 100 mails start per second across every worker of the queue, in every process.
  @QueueHandler(MailQueue, { concurrency: 20, rateLimit: { max: 100, duration: 1000 } })
  async send(mail: Mail) {
    const reply = await this.relay.send(mail);
    // The relay pushed back: the job runs again after that long, without spending an attempt.
    if (!reply.ok) throw new RateLimitedError(reply.retryAfterMs);
  }
}
