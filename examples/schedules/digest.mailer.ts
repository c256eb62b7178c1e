import { Injectable } from '@nestjs/common';

/** Stands in for the service that renders and sends the digest (it takes a signal, as fetch does). */
@Injectable()
export class DigestMailer {
  readonly sent: string[] = [];

  async sendDigest(edition: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    this.sent.push(edition);
  }
}
