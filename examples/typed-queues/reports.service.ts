import { Injectable } from '@nestjs/common';
import { QueueProducer } from 'nestjs-redis-queue';
import { AuditQueue, ReportQueue } from './queues.js';

@Injectable()
export class ReportsService {
  constructor(private readonly producer: QueueProducer) {}

  /** Rejects with InvalidPayloadError, storing nothing, when the request breaks the schema. */
  request(month: string, recipients: string[]): Promise<string> {
    return this.producer.enqueue(ReportQueue, { month, recipients }); // format: the schema's default
  }

  audit(actor: string, action: string): Promise<string> {
    return this.producer.enqueue(AuditQueue, { actor, action, at: Date.now() });
  }
}
