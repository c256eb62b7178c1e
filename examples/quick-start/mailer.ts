import { Injectable, Logger } from '@nestjs/common';

/** Stands in for your SMTP client (see apps/demo-worker for one that really sends mail). */
@Injectable()
export class Mailer {
  private readonly logger = new Logger(Mailer.name);

  async send(to: string, subject: string): Promise<void> {
    this.logger.log(`sending "${subject}" to ${to}`);
  }
}
