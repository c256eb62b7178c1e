import { Injectable } from '@nestjs/common';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import * as v from 'valibot';
import { AuditQueue, ReportQueue, ReportRequest } from './queues.js';
import type { AuditEvent } from './queues.js';
import { ReportOutbox } from './report.outbox.js';

@Injectable()
export class ReportHandlers {
  constructor(private readonly outbox: ReportOutbox) {}

  // The payload is the schema's output (format filled in); a parameter of another type does not compile.
  @QueueHandler(ReportQueue, { concurrency: 2 })
  async build(request: v.InferOutput<typeof ReportRequest>, job: JobContext) {
    await this.outbox.send(request.recipients, `report-${request.month}.${request.format}`, job.id);
  }

  @QueueHandler(AuditQueue)
  async record(event: AuditEvent) {
    await this.outbox.send(['audit@example.com'], `${event.actor} ${event.action}`, String(event.at));
  }
}
