import { IsEmail, IsIn, IsNotEmpty, IsString, MaxLength } from 'class-validator';

/** The queue the API fills and the worker drains. */
export const EMAIL_QUEUE = 'email';

export const EMAIL_TEMPLATES = ['welcome', 'reminder'] as const;
export type EmailTemplate = (typeof EMAIL_TEMPLATES)[number];

/**
 * Payload of a job in the `email` queue: the contract between the two apps. It lives with the worker,
 * which owns the queue it consumes; the API imports it (in your own monorepo, put it in a shared library).
 *
 * Both sides validate it with the same rules: `QueueProducer.enqueue` rejects an invalid instance before
 * anything is stored, and the worker's handler declares it as its payload type, so each payload read from
 * Redis is turned back into an `EmailJob` and checked before the handler runs (an invalid one goes to the
 * dead-letter set at once: retrying cannot fix it).
 */
export class EmailJob {
  @IsIn(EMAIL_TEMPLATES)
  template!: EmailTemplate;

  @IsEmail()
  to!: string;

  @IsString()
  @IsNotEmpty()
  @MaxLength(100)
  name!: string;

  static create(fields: { template: EmailTemplate; to: string; name: string }): EmailJob {
    return Object.assign(new EmailJob(), fields);
  }
}
