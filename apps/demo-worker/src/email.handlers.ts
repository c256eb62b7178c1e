import { Injectable, Logger } from '@nestjs/common';
import { JobContext, PermanentJobError, QueueHandler } from 'nestjs-redis-queue';
import { EMAIL_QUEUE, EmailJob } from './email.job.js';
import { renderEmail } from './email.templates.js';
import { Mailer, SmtpErrorFields } from './mailer.service.js';

@Injectable()
export class EmailHandlers {
  private readonly logger = new Logger(EmailHandlers.name);

  constructor(private readonly mailer: Mailer) {}

  /**
   * Sends one email. The payload type `EmailJob` carries class-validator rules, so the queue validates each
   * payload before this runs. A throw is retried with exponential backoff (about 1 s, 2 s, 4 s, 8 s) up to
   * 5 attempts in all; a `PermanentJobError` dead-letters the job at once.
   */
  @QueueHandler(EMAIL_QUEUE, { concurrency: 5, attempts: 5, backoff: { type: 'exponential', delay: 1000 } })
  async send(email: EmailJob, job: JobContext): Promise<void> {
    const { subject, text } = renderEmail(email);
    try {
      await this.mailer.send({
        to: email.to,
        subject,
        text,
        // Lets a reader of the mail find the job, and shows which attempt got through.
        headers: { 'X-Job-Id': job.id, 'X-Job-Attempt': String(job.attempt) },
      });
    } catch (error) {
      throw toJobError(error, email.to);
    }
    this.logger.log(`job ${job.id}: ${email.template} mail to ${email.to} sent (attempt ${job.attempt}/${job.maxAttempts})`);
  }
}

/**
 * Decides whether another attempt can help. A 5xx reply to the recipient or to the message is the
 * server's final word, so the job fails permanently. Anything else (a 4xx "try again later", a refused
 * connection, a timeout) is retried.
 */
export function toJobError(error: unknown, to: string): Error {
  const smtp = (typeof error === 'object' && error !== null ? error : {}) as SmtpErrorFields;
  const message = error instanceof Error ? error.message : String(error);
  const code = smtp.responseCode ?? 0;
  if (code >= 500 && code < 600 && (smtp.command === 'RCPT TO' || smtp.command === 'DATA')) {
    return new PermanentJobError(`the SMTP server refused the mail to ${to} for good: ${smtp.response ?? message}`);
  }
  // Everything else is worth another attempt: a 4xx "try again later", a timeout, even a wrong password
  // (535), which an operator can fix while the job waits. The message names the recipient for the logs.
  return new Error(`sending the mail to ${to} failed: ${message}`, { cause: error });
}
