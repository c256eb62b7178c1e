// `npm run demo [-- --keep]`: the whole product in one command. Gets a Redis, starts an SMTP sink, the
// worker and the API as separate processes, registers a few users over HTTP, waits for every mail to be
// delivered, retried or dead-lettered, prints a summary and stops everything it started.
import { randomBytes } from 'node:crypto';
import { join, relative } from 'node:path';
import { Redis } from 'ioredis';
import { DeadJob } from 'nestjs-redis-queue';
import type { TestRedis } from 'nestjs-redis-queue/testing';
import { EMAIL_QUEUE } from '../apps/demo-worker/src/email.job.js';
import { DASHBOARD_PASSWORD, DASHBOARD_USER } from '../apps/demo-api/src/dashboard.guard.js';
import { DemoApp, REPO_ROOT } from './demo/app-process.js';
import { startDemoRedis } from './demo/demo-redis.js';
import { deleteQueueKeys, DemoStack } from './demo/demo-stack.js';
import {
  DEMO_REGISTRATIONS,
  GREYLISTED_ADDRESS,
  INVALID_REGISTRATION,
  REJECTED_ADDRESS,
  register,
  RegisterResult,
  Registration,
  SINK_RULES,
} from './demo/scenario.js';
import { ReceivedMail } from './demo/smtp-sink.js';

const USAGE = `usage: npm run demo [-- --keep]
  Runs the demo end to end and stops everything it started.
  --keep   leave Redis, the SMTP sink, the worker and the API running afterwards, with curl commands to try
           (Ctrl+C stops it all)
  Redis comes from REDIS_URL, else a Docker container (testcontainers), else redis-server from PATH.`;

/** How long the jobs may take to settle before the demo gives up (normally about 4 s). */
const SETTLE_TIMEOUT_MS = 45_000;
/** Whatever happens (a Redis container slow to pull, an app that hangs), a run without --keep ends by then. */
const RUN_TIMEOUT_MS = 240_000;
const OUTBOX = join(REPO_ROOT, 'demo-outbox');

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
const unknown = args.filter((arg) => arg !== '--keep');
if (unknown.length > 0) {
  console.error(`unknown argument ${unknown[0]}\n${USAGE}`);
  process.exit(2);
}
const keep = args.includes('--keep');

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const say = (line = '') => console.log(line);
const file = (path: string) => relative(process.cwd(), path);

/** What one expected job should end as. */
interface Expected {
  jobId: string;
  registration: Registration;
  template: 'welcome' | 'reminder';
  outcome: 'delivered' | 'dead';
  sentAt: Date;
}

// Everything started is stopped in reverse order, whether the demo ends normally, fails, or is interrupted.
const cleanups: Array<() => Promise<unknown>> = [];
let finishing = false;

async function finish(code: number): Promise<never> {
  if (!finishing) {
    finishing = true;
    say(`\nstopping everything the demo started...`);
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => say(`  (while stopping: ${(error as Error).message})`));
    }
    say(code === 0 ? 'stopped. Bye.' : `stopped (exit code ${code}).`);
    process.exit(code);
  }
  return new Promise<never>(() => undefined);
}

process.on('SIGINT', () => void finish(keep ? 0 : 130));
process.on('SIGTERM', () => void finish(143));
if (!keep) {
  setTimeout(() => {
    say(`\nthe demo is still running after ${RUN_TIMEOUT_MS / 1000} s: giving up`);
    void finish(1);
  }, RUN_TIMEOUT_MS).unref();
}

async function main(): Promise<number> {
  say('nestjs-redis-queue demo: an API registers users and queues their welcome mails; a separate worker');
  say('sends them over SMTP, retrying what fails for now and dead-lettering what fails for good.\n');

  say('1. Redis: REDIS_URL, else a Docker container, else redis-server from PATH...');
  let redis: TestRedis;
  try {
    redis = await startDemoRedis();
  } catch (error) {
    say(`The demo needs a Redis and found none.\n${(error as Error).message}`);
    return 1;
  }
  cleanups.push(() => redis.stop());
  const from = { env: 'REDIS_URL', container: 'a Docker container', binary: 'a redis-server process' }[redis.source];
  const prefix = `demo-${randomBytes(3).toString('hex')}`;
  say(`   ${redis.url} (${from}), keys under "${prefix}:"`);

  say('2. Starting the SMTP sink, the worker and the API (separate processes)...');
  let appLogs = false;
  const stack = await DemoStack.start({
    redisUrl: redis.url,
    prefix,
    smtp: { outbox: OUTBOX, cleanOutbox: true, ...SINK_RULES },
    onLine: (app, line) => appLogs && printAppLine(app, line),
  });
  cleanups.push(async () => {
    await stack.stop();
    // A Redis the demo did not start keeps running: take the demo's keys out of it.
    if (redis.source === 'env') {
      const client = new Redis(redis.url);
      await deleteQueueKeys(client, prefix).finally(() => client.quit());
    }
  });
  appLogs = true;
  stack.sink.on('mail', (mail) => say(`   [smtp]    accepted mail to ${mail.recipients.join(', ')} -> ${file(mail.file)}`));
  stack.sink.on('refusal', (refusal) => say(`   [smtp]    refused ${refusal.address}: ${refusal.reply}`));
  say(`   SMTP sink  ${stack.sink.url}, writes to ${file(OUTBOX)}/ (550 for ${REJECTED_ADDRESS}, 451 once for ${GREYLISTED_ADDRESS})`);
  say(`   worker     pid ${stack.worker.pid}, metrics ${stack.workerUrl}/metrics, health ${stack.workerUrl}/health`);
  say(`   API        ${stack.apiUrl}, pid ${stack.api.pid}; dashboard ${stack.apiUrl}/queues (user ${DASHBOARD_USER}, password ${DASHBOARD_PASSWORD})`);
  say(`   (a warning that Redis persistence is off is right for this throwaway Redis; in production, turn AOF on)`);

  say('\n3. Registering users over HTTP (each response comes back once the mail job is stored)...');
  const expected: Expected[] = [];
  for (const registration of DEMO_REGISTRATIONS) {
    const result = await register(stack.apiUrl, registration);
    say(`   POST /users ${JSON.stringify(registration)}\n     -> ${result.status} ${JSON.stringify(result.body)}`);
    if (result.status !== 201 || !result.body.jobId) throw new Error(`the API refused a valid registration: ${JSON.stringify(result.body)}`);
    expected.push(...expectations(registration, result));
  }
  const invalid = await register(stack.apiUrl, INVALID_REGISTRATION);
  say(`   POST /users ${JSON.stringify(INVALID_REGISTRATION)}\n     -> ${invalid.status} ${JSON.stringify(invalid.body.message)}`);

  say(`\n4. Waiting for ${expected.length} jobs to settle...`);
  const settled = await waitForOutcomes(stack, expected);

  say(`\n5. Summary (${elapsed()})`);
  const ok = printSummary(stack, expected, settled.dead, invalid) && settled.complete;
  if (!ok) {
    say(`\nThe demo did not end as expected. The worker's last output:\n${stack.worker.output(40)}`);
    return 1;
  }
  say('\nEverything ended as expected.');

  if (keep) {
    printKeepInstructions(stack, redis, prefix);
    await new Promise<never>(() => undefined); // until Ctrl+C (SIGINT)
  }
  return 0;
}

function expectations(registration: Registration, result: RegisterResult): Expected[] {
  const outcome = registration.email === REJECTED_ADDRESS ? 'dead' : 'delivered';
  const list: Expected[] = [{ jobId: result.body.jobId!, registration, template: 'welcome', outcome, sentAt: result.sentAt }];
  if (result.body.reminderJobId) {
    list.push({ jobId: result.body.reminderJobId, registration, template: 'reminder', outcome, sentAt: result.sentAt });
  }
  return list;
}

/** Polls the sink and the queue until every job has its outcome and the queue is empty, printing progress. */
async function waitForOutcomes(stack: DemoStack, expected: Expected[]): Promise<{ complete: boolean; dead: DeadJob[] }> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  let last = '';
  let lastPrinted = 0;
  while (true) {
    const counts = await stack.inspector.counts(EMAIL_QUEUE);
    const dead = await stack.inspector.deadJobs(EMAIL_QUEUE);
    const delivered = expected.filter((e) => e.outcome === 'delivered' && mailFor(stack, e));
    const deadOnes = expected.filter((e) => e.outcome === 'dead' && dead.some((d) => d.id === e.jobId));
    const done = delivered.length + deadOnes.length;
    const complete = done === expected.length && counts.ready + counts.delayed + counts.active === 0;
    const status = `${done}/${expected.length} settled · queue: ${counts.ready} ready, ${counts.active} running, ${counts.delayed} delayed (reminders, retries), ${counts.dead} dead`;
    if (status !== last || Date.now() - lastPrinted > 5000 || complete) {
      say(`   ...${elapsed().padStart(7)}  ${status}`);
      last = status;
      lastPrinted = Date.now();
    }
    if (complete) return { complete, dead };
    if (Date.now() > deadline) {
      say(`   gave up after ${SETTLE_TIMEOUT_MS / 1000} s`);
      return { complete, dead };
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function mailFor(stack: DemoStack, e: Expected): ReceivedMail | undefined {
  return stack.sink.mails.find((mail) => mail.headers['x-job-id'] === e.jobId);
}

function printSummary(stack: DemoStack, expected: Expected[], dead: DeadJob[], invalid: RegisterResult): boolean {
  let ok = true;
  const delivered = expected.filter((e) => e.outcome === 'delivered');
  say(`   delivered (${delivered.filter((e) => mailFor(stack, e)).length}/${delivered.length}):`);
  for (const e of delivered) {
    const mail = mailFor(stack, e);
    if (!mail) {
      ok = false;
      say(`     MISSING  job ${e.jobId}: ${e.template} mail to ${e.registration.email}`);
      continue;
    }
    const notes: string[] = [`attempt ${mail.headers['x-job-attempt']}`];
    if (e.template === 'reminder') {
      const after = (mail.receivedAt.getTime() - e.sentAt.getTime()) / 1000;
      notes.push(`asked for in ${e.registration.remindInSeconds} s, arrived after ${after.toFixed(1)} s`);
    }
    say(`     ${e.registration.email.padEnd(27)} ${`"${mail.subject}"`.padEnd(45)} ${file(mail.file)}  (${notes.join('; ')})`);
  }

  const retried = stack.sink.refusals.filter((r) => r.code === 451);
  say(`   retried (${retried.length}):`);
  for (const refusal of retried) {
    const mail = stack.sink.mailsTo(refusal.address)[0];
    say(`     ${refusal.address.padEnd(27)} first attempt got "${refusal.reply}"; ` +
      (mail ? `delivered on attempt ${mail.headers['x-job-attempt']} -> ${file(mail.file)}` : 'NOT delivered'));
    if (!mail) ok = false;
  }
  if (!retried.some((r) => r.address === GREYLISTED_ADDRESS)) ok = false;

  const expectedDead = expected.filter((e) => e.outcome === 'dead');
  say(`   dead-lettered (${dead.length}):`);
  for (const job of dead) {
    const to = (job.payload as { to?: string } | undefined)?.to ?? '?';
    say(`     ${to.padEnd(27)} job ${job.id} after ${job.attemptsMade} attempt(s): ${job.error.name}: ${job.error.message}`);
  }
  for (const e of expectedDead) {
    if (!dead.some((d) => d.id === e.jobId)) {
      ok = false;
      say(`     MISSING  job ${e.jobId}: ${e.template} mail to ${e.registration.email}`);
    }
  }
  if (dead.length !== expectedDead.length) ok = false;

  const message = Array.isArray(invalid.body.message) ? invalid.body.message.join('; ') : String(invalid.body.message);
  say(`   refused by the API: ${JSON.stringify(INVALID_REGISTRATION)} -> ${invalid.status} (${message})`);
  if (invalid.status !== 400) ok = false;
  return ok;
}

/** Shows the apps' log lines, shortened; anything else (stack traces) stays in their output buffers. */
function printAppLine(app: DemoApp, line: string): void {
  // "[Nest] 123  - 11/21/2026, 11:03:24 PM     LOG [Context] message" -> "LOG [Context] message"
  const match = /^\[Nest\] \d+\s+-\s+.*?\s{2,}((?:LOG|WARN|ERROR|DEBUG|VERBOSE|FATAL) .*)$/.exec(line);
  if (match) say(`   ${`[${app === 'demo-api' ? 'api' : 'worker'}]`.padEnd(9)} ${match[1]}`);
}

/** The dashboard's URL with the demo login in it (browsers take it from there and ask no more). */
function dashboardUrl(api: string): string {
  const url = new URL(`${api}/queues`);
  url.username = DASHBOARD_USER;
  url.password = DASHBOARD_PASSWORD;
  return url.toString();
}

function printKeepInstructions(stack: DemoStack, redis: TestRedis, prefix: string): void {
  const api = stack.apiUrl;
  say(`
Still running (--keep); Ctrl+C stops it all:
   Dashboard  ${dashboardUrl(api)}  (user ${DASHBOARD_USER}, password ${DASHBOARD_PASSWORD})
   API        ${api}  (pid ${stack.api.pid})
   worker     pid ${stack.worker.pid}, metrics ${stack.workerUrl}/metrics, health ${stack.workerUrl}/health
   SMTP sink  ${stack.sink.url} -> ${file(OUTBOX)}/
   Redis      ${redis.url}  (keys under "${prefix}:")

Try:
   curl -s -X POST ${api}/users -H 'content-type: application/json' -d '{"email":"you@example.com","name":"You"}'
   curl -s -X POST ${api}/users -H 'content-type: application/json' -d '{"email":"you@example.com","name":"You","remindInSeconds":10}'
   curl -s -X POST ${api}/users -H 'content-type: application/json' -d '{"email":"${REJECTED_ADDRESS}","name":"Bounce"}'
   curl -s -X POST ${api}/users -H 'content-type: application/json' -d '{"email":"oops","name":""}'
   curl -s ${api}/health
   curl -s ${stack.workerUrl}/health
   curl -s ${stack.workerUrl}/metrics | grep '^rq_'
   npm run rq -- --url ${redis.url} --prefix ${prefix} status
   ls ${file(OUTBOX)}/

Add a second worker by hand (workers of one queue compete for its jobs):
   REDIS_URL=${redis.url} QUEUE_PREFIX=${prefix} SMTP_URL=${stack.sink.url} METRICS_PORT=0 npm run demo:worker
`);
}

main().then(
  (code) => finish(code),
  (error: unknown) => {
    say(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}`);
    return finish(1);
  },
);
