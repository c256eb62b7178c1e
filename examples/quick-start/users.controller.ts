import { Body, Controller, Post } from '@nestjs/common';
import { QueueProducer } from 'nestjs-redis-queue';
import { WelcomeEmail } from './welcome-email.js';

@Controller('users')
export class UsersController {
  constructor(private readonly producer: QueueProducer) {}

  @Post()
  async register(@Body() dto: WelcomeEmail) {
    // Resolves once Redis has stored the job; the request does not wait for the email.
    const jobId = await this.producer.enqueue('email', dto, { delay: 2_000 });
    return { jobId };
  }
}
