import { Controller, Get, Injectable, Param, Post } from '@nestjs/common';
import { defineQueue, JobContext, OnQueueEvent, QueueHandler, QueueInspector, QueueProducer } from 'nestjs-redis-queue';
import type { QueueEvent } from 'nestjs-redis-queue';

/** Every job of this queue is tracked: findable by id, with its progress and result. */
export const ReportQueue = defineQueue<{ month: string }>('report', { track: { retention: 3_600_000 } });

@Injectable()
export class ReportHandlers {
  @QueueHandler(ReportQueue, { concurrency: 2 })
  async build(payload: { month: string }, job: JobContext) {
    for (let page = 1; page <= 10; page++) {
      job.signal.throwIfAborted(); // cancelled (or timed out): stop here
      await renderPage(payload.month, page);
      await job.progress(page * 10); // cheap: the latest value goes with the worker's next round trip
    }
    return { url: `/reports/${payload.month}.pdf` }; // kept with the tracked job
  }
}

@Controller('reports')
export class ReportsController {
  constructor(
    private readonly producer: QueueProducer,
    private readonly inspector: QueueInspector,
  ) {}

  @Post(':month')
  async request(@Param('month') month: string) {
    return { id: await this.producer.enqueue(ReportQueue, { month }) };
  }

  @Get(':id')
  async status(@Param('id') id: string) {
    const job = await this.inspector.job(ReportQueue, id); // O(1) in Redis, from any app
    return job ? { state: job.state, progress: job.progress, result: job.result, error: job.error?.message } : { state: 'unknown' };
  }

  @Get(':id/wait')
  async wait(@Param('id') id: string) {
    // Resolves with the handler's return value; rejects if the job dies or is cancelled.
    return this.producer.waitForResult(ReportQueue, id, { timeout: 30_000 });
  }
}

/** Events travel through Redis: this runs in the API app, whichever app ran the job. */
@Injectable()
export class ReportNotifier {
  readonly done: QueueEvent[] = [];

  @OnQueueEvent(ReportQueue, 'completed')
  completed(event: QueueEvent) {
    this.done.push(event); // event.id, event.result, event.at
  }
}

async function renderPage(_month: string, _page: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 5));
}
