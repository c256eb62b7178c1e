import { Injectable } from '@nestjs/common';
import { JobContext, QueueHandler } from 'nestjs-redis-queue';
import { ReportStore } from './report.store.js';

export interface ReportRequest {
  account: string;
}

@Injectable()
export class ReportHandlers {
  constructor(private readonly store: ReportStore) {}

  @QueueHandler('reports', { concurrency: 4 })
  async build(payload: ReportRequest, job: JobContext) {
    this.store.built.set(payload.account, `report ${job.id}, attempt ${job.attempt}`);
  }
}
