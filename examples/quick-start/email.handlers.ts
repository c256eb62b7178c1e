import { Injectable } from '@nestjs/common';
import { JobContext, PermanentJobError, QueueHandler } from 'nestjs-redis-queue';
import { Mailer } from './mailer.js';
import { WelcomeEmail } from './welcome-email.js';

@Injectable()
export class EmailHandlers {
  constructor(private readonly mailer: Mailer) {}

  // The payload arrives validated, as a WelcomeEmail instance. A throw retries the job with backoff;
  // a PermanentJobError sends it straight to the dead-letter set.
  @QueueHandler('email', { concurrency: 20 })
  async send(payload: WelcomeEmail, job: JobContext) {
    if (payload.email.endsWith('@example.invalid')) throw new PermanentJobError('undeliverable domain');
    await this.mailer.send(payload.email, `Welcome, ${payload.name}! (attempt ${job.attempt}/${job.maxAttempts})`);
  }
}
