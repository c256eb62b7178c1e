/** Messages between the benchmark (main process) and a worker child. */
export type WorkerMode = 'count' | 'latency' | 'delayed' | 'idle';

export type ChildRequest =
  | { type: 'start'; id: number; mode: WorkerMode; concurrency: number; expect: number; queue?: string }
  | { type: 'stop'; id: number }
  | { type: 'exit' };

export type ChildReport =
  | { type: 'ready'; id: number }
  | { type: 'started'; id: number }
  | { type: 'stopped'; id: number }
  | { type: 'error'; id: number; message: string }
  | {
      type: 'done';
      id: number;
      handled: number;
      /** First handler start, ms on the monotonic clock. */
      firstStart: number;
      /** When Redis first showed no job in flight after the last handler start (monotonic ms). */
      end: number;
      /** Commands the child sent to detect the end (`pollCommand` of the adapter). */
      polls: number;
      /** latency: ms from enqueue to handler start; delayed: ms from due time to handler start. */
      samples: number[];
      /** latency: p99 event-loop delay of the worker process while it ran (ms). */
      loopDelayP99?: number;
    };
