import { EventEmitter } from 'node:events';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';

/** How the sink answers; addresses are compared case-insensitively. */
export interface SmtpSinkOptions {
  /** Folder the accepted messages are written to, one `.eml` file each (created if missing). */
  outbox: string;
  /** Remove the `.eml` files already in `outbox` first. Default: false. */
  cleanOutbox?: boolean;
  /** Recipients refused for good: `550` to `RCPT TO`. */
  rejectAlways?: readonly string[];
  /** Recipients refused once with `451` (try again later), then accepted. */
  failOnce?: readonly string[];
  /** Port on 127.0.0.1. Default: a free one. */
  port?: number;
}

/** A message the sink accepted. */
export interface ReceivedMail {
  /** Path of the `.eml` file. */
  file: string;
  /** Envelope recipients (`RCPT TO`), lower case. */
  recipients: string[];
  from: string;
  to: string;
  subject: string;
  /** Plain-text body, decoded, with `\n` line ends. */
  text: string;
  /** Headers by lower-case name (unfolded, encoded words decoded). */
  headers: Record<string, string>;
  receivedAt: Date;
}

/** A recipient the sink refused. */
export interface Refusal {
  address: string;
  code: 451 | 550;
  reply: string;
  at: Date;
}

interface SinkEvents {
  mail: [ReceivedMail];
  refusal: [Refusal];
}

/**
 * A real SMTP server on 127.0.0.1 for the demo and its test: it writes each accepted message to the outbox
 * and refuses chosen recipients, permanently (550) or once (451), so retries and dead letters can be seen.
 * No TLS, no AUTH: it is for local use only.
 */
export class SmtpSink extends EventEmitter<SinkEvents> {
  readonly mails: ReceivedMail[] = [];
  readonly refusals: Refusal[] = [];
  readonly outbox: string;
  private readonly server: SMTPServer;
  private readonly rejectAlways: Set<string>;
  private readonly failOnce: Set<string>;
  private sequence = 0;

  private constructor(options: SmtpSinkOptions) {
    super();
    this.outbox = options.outbox;
    this.rejectAlways = new Set((options.rejectAlways ?? []).map((a) => a.toLowerCase()));
    this.failOnce = new Set((options.failOnce ?? []).map((a) => a.toLowerCase()));
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      disableReverseLookup: true,
      logger: false,
      banner: 'demo SMTP sink',
      // Sessions still open at stop() are cut after this long instead of the default 30 s.
      closeTimeout: 1000,
      onRcptTo: (address, _session, callback) => callback(this.answerRecipient(address.address.toLowerCase())),
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('error', (error) => callback(error));
        stream.on('end', () => {
          try {
            this.accept(Buffer.concat(chunks), session.envelope.rcptTo.map((a) => a.address.toLowerCase()));
            callback();
          } catch (error) {
            callback(error as Error);
          }
        });
      },
    });
    // A client that drops its connection is not the sink's problem; keep serving.
    this.server.on('error', () => undefined);
  }

  static async start(options: SmtpSinkOptions): Promise<SmtpSink> {
    mkdirSync(options.outbox, { recursive: true });
    if (options.cleanOutbox) {
      for (const name of readdirSync(options.outbox)) {
        if (name.endsWith('.eml')) rmSync(join(options.outbox, name), { force: true });
      }
    }
    const sink = new SmtpSink(options);
    await new Promise<void>((resolve, reject) => {
      sink.server.server.once('error', reject);
      sink.server.listen(options.port ?? 0, '127.0.0.1', () => {
        sink.server.server.off('error', reject);
        resolve();
      });
    });
    return sink;
  }

  get port(): number {
    return (this.server.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** Mails accepted for `address` (envelope recipient), oldest first. */
  mailsTo(address: string): ReceivedMail[] {
    const rcpt = address.toLowerCase();
    return this.mails.filter((mail) => mail.recipients.includes(rcpt));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** undefined: accept; otherwise the error whose responseCode the server replies with. */
  private answerRecipient(rcpt: string): Error | undefined {
    const refuse = (code: 451 | 550, text: string) => {
      const refusal: Refusal = { address: rcpt, code, reply: `${code} ${text}`, at: new Date() };
      this.refusals.push(refusal);
      this.emit('refusal', refusal);
      return Object.assign(new Error(text), { responseCode: code });
    };
    if (this.rejectAlways.has(rcpt)) return refuse(550, `5.1.1 <${rcpt}>: mailbox unavailable`);
    if (this.failOnce.delete(rcpt)) return refuse(451, `4.7.1 <${rcpt}>: greylisted, try again later`);
    return undefined;
  }

  private accept(raw: Buffer, recipients: string[]): void {
    const name = `${String(++this.sequence).padStart(3, '0')}-${safeFileName(recipients[0] ?? 'unknown')}.eml`;
    const file = join(this.outbox, name);
    writeFileSync(file, raw);
    const mail = { file, recipients, receivedAt: new Date(), ...parseMessage(raw.toString('utf8')) };
    this.mails.push(mail);
    this.emit('mail', mail);
  }
}

function safeFileName(address: string): string {
  return address.replace(/[^a-zA-Z0-9@._-]/g, '_').slice(0, 80);
}

/**
 * Reads a single-part text message (what the demo worker sends): headers, subject and body, undoing
 * quoted-printable or base64 transfer encoding and RFC 2047 encoded words. Not a general MIME parser.
 */
export function parseMessage(raw: string): Pick<ReceivedMail, 'from' | 'to' | 'subject' | 'text' | 'headers'> {
  const normalized = raw.replace(/\r\n/g, '\n');
  const split = normalized.indexOf('\n\n');
  const head = split === -1 ? normalized : normalized.slice(0, split);
  const body = split === -1 ? '' : normalized.slice(split + 2);
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = decodeWords(line.slice(colon + 1).trim());
  }
  const encoding = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  const text =
    encoding === 'quoted-printable'
      ? decodeQuotedPrintable(body)
      : encoding === 'base64'
        ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
        : body;
  return { from: headers.from ?? '', to: headers.to ?? '', subject: headers.subject ?? '', text, headers };
}

function decodeQuotedPrintable(body: string): string {
  const parts = body.replace(/=\n/g, '').split(/(=[0-9A-Fa-f]{2})/);
  const bytes = parts.map((part, i) => (i % 2 === 1 ? Buffer.from([parseInt(part.slice(1), 16)]) : Buffer.from(part, 'utf8')));
  return Buffer.concat(bytes).toString('utf8');
}

function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/g, (_, _charset: string, kind: string, data: string) =>
      kind.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64').toString('utf8')
        : decodeQuotedPrintable(data.replace(/_/g, ' ')),
    );
}
