import { Injectable } from '@nestjs/common';

/** Where built reports go (a mail or storage service in a real app). */
@Injectable()
export class ReportOutbox {
  readonly sent: Array<{ to: string[]; file: string; ref: string }> = [];

  async send(to: string[], file: string, ref: string): Promise<void> {
    this.sent.push({ to, file, ref });
  }
}
