import { Injectable } from '@nestjs/common';
import { QueueProducer } from 'nestjs-redis-queue';

@Injectable()
export class SearchIndexService {
  constructor(private readonly producer: QueueProducer) {}

  /**
   * Called on every profile edit. A burst of edits makes one reindex job, with the last payload, 2 s after
   * the last edit, and never later than 30 s after the first. Resolves with that job's id.
   */
  userChanged(userId: number, fields: string[]): Promise<string> {
    return this.producer.enqueue('reindex-user', { userId, fields }, { debounce: { key: `user-${userId}`, delay: 2000, maxWait: 30_000 } });
  }
}
