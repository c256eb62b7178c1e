import { Injectable } from '@nestjs/common';
import type { Mail } from './queues.js';

/** The SMTP relay (a real app calls its mail client here). `busy` holds the push-backs it will answer with. */
@Injectable()
export class MailRelay {
  readonly sent: Mail[] = [];
  readonly busy: number[] = [];

  async send(mail: Mail): Promise<{ ok: true } | { ok: false; retryAfterMs: number }> {
    const retryAfterMs = this.busy.shift();
    if (retryAfterMs !== undefined) return { ok: false, retryAfterMs }; // e.g. SMTP 421, try again later
    this.sent.push(mail);
    return { ok: true };
  }
}
