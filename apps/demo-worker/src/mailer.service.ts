import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createTransport } from 'nodemailer';

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  headers?: Record<string, string>;
}

/** What nodemailer adds to an error that came from the SMTP server's reply. */
export interface SmtpErrorFields {
  /** e.g. `EENVELOPE` (recipient refused), `EMESSAGE` (message refused), `ECONNECTION`. */
  code?: string;
  /** The reply code, e.g. 451 (try again later) or 550 (mailbox unavailable). */
  responseCode?: number;
  /** The full reply line. */
  response?: string;
  /** The SMTP command that got the reply, e.g. `RCPT TO`. */
  command?: string;
}

export const DEFAULT_MAIL_FROM = 'Demo <no-reply@example.com>';

/** Sends mail over SMTP to `SMTP_URL` (e.g. `smtp://127.0.0.1:2525`), from `MAIL_FROM`. */
@Injectable()
export class Mailer implements OnApplicationShutdown {
  private readonly transport;

  constructor(config: ConfigService) {
    this.transport = createTransport(
      {
        url: config.getOrThrow<string>('SMTP_URL'),
        pool: true,
        maxConnections: 5,
        // nodemailer waits minutes by default; a job should fail (and be retried) well before its lease
        // would need renewing for long.
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 30_000,
      },
      { from: config.get<string>('MAIL_FROM', DEFAULT_MAIL_FROM) },
    );
  }

  /** Resolves once the SMTP server accepted the message; rejects with nodemailer's error otherwise. */
  async send(mail: OutgoingMail): Promise<void> {
    await this.transport.sendMail(mail);
  }

  // Runs after the queue module drained the running jobs (it does that in beforeApplicationShutdown).
  onApplicationShutdown(): void {
    this.transport.close();
  }
}
