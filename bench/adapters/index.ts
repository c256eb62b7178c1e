import { AdapterOptions, LibraryId, ProducerAdapter, Validator, WorkerAdapter } from './adapter.js';
import { BEE_SETTINGS, beeProducer, beeWorker } from './bee-queue.js';
import { BULLMQ_SETTINGS, bullmqProducer, bullmqWorker } from './bullmq.js';
import { OURS_POLL_COMMANDS, OURS_SETTINGS, OURS_VALIDATION, oursProducer, oursWorker } from './ours.js';
import { PEER_POLL_COMMANDS } from './adapter.js';

export * from './adapter.js';

export function createProducer(lib: LibraryId, options: AdapterOptions): Promise<ProducerAdapter> {
  switch (lib) {
    case 'ours':
      return oursProducer(options);
    case 'bullmq':
      return bullmqProducer(options);
    case 'beeQueue':
      return beeProducer(options);
  }
}

/** The settings each library runs with (besides concurrency), for the report. */
export function librarySettings(lib: LibraryId, validate?: Validator): string {
  switch (lib) {
    case 'ours':
      return validate ? `${OURS_SETTINGS}; ${OURS_VALIDATION[validate]}` : OURS_SETTINGS;
    case 'bullmq':
      return BULLMQ_SETTINGS;
    case 'beeQueue':
      return BEE_SETTINGS;
  }
}

/** Commands one end-of-run poll of the library's worker child sends (subtracted from command counts). */
export function pollCommands(lib: LibraryId): Readonly<Record<string, number>> {
  return lib === 'ours' ? OURS_POLL_COMMANDS : PEER_POLL_COMMANDS;
}

export function createWorker(lib: LibraryId, options: AdapterOptions): Promise<WorkerAdapter> {
  switch (lib) {
    case 'ours':
      return oursWorker(options);
    case 'bullmq':
      return bullmqWorker(options);
    case 'beeQueue':
      return beeWorker(options);
  }
}
