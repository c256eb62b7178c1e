import { Injectable } from '@nestjs/common';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import { DigestMailer } from './digest.mailer.js';

@Injectable()
export class DigestHandlers {
  constructor(private readonly mailer: DigestMailer) {}

  // One job at 08:00 Paris time every weekday, however many instances of the app run. Stored at
  // bootstrap; delete the `schedule` option and the next deploy removes it from Redis.
  @QueueHandler('digest', {
    schedule: { name: 'weekday-morning', cron: '0 8 * * 1-5', timeZone: 'Europe/Paris', payload: { edition: 'morning' } },
    timeout: 60_000, // an attempt still running after a minute is aborted, and counts as failed
    attempts: 3,
  })
  async send(payload: { edition: string }, job: JobContext) {
    // Pass the signal on: it aborts with JobTimeoutError when the attempt runs past its timeout.
    await this.mailer.sendDigest(payload.edition, job.signal);
  }
}
