import { Body, Controller, Post } from '@nestjs/common';
import { QueueProducer } from 'nestjs-redis-queue';
import { EMAIL_QUEUE, EmailJob } from '../../demo-worker/src/email.job.js';
import { RegisterUserDto } from './register-user.dto.js';

export interface RegisterUserResponse {
  /** Id of the welcome email job. */
  jobId: string;
  /** Id of the reminder job, when `remindInSeconds` was given. */
  reminderJobId?: string;
}

@Controller('users')
export class UsersController {
  constructor(private readonly producer: QueueProducer) {}

  /**
   * Registers a user without waiting for any email: the mails become jobs, and the response comes back
   * as soon as Redis has stored them. (A real service would save the user here first.)
   */
  @Post()
  async register(@Body() dto: RegisterUserDto): Promise<RegisterUserResponse> {
    const jobId = await this.producer.enqueue(EMAIL_QUEUE, EmailJob.create({ template: 'welcome', to: dto.email, name: dto.name }));
    if (dto.remindInSeconds === undefined) return { jobId };
    const reminderJobId = await this.producer.enqueue(
      EMAIL_QUEUE,
      EmailJob.create({ template: 'reminder', to: dto.email, name: dto.name }),
      { delay: dto.remindInSeconds * 1000 },
    );
    return { jobId, reminderJobId };
  }
}
