#!/usr/bin/env node
// `rq`: the command-line face of nestjs-redis-queue. It works on the engine directly (no Nest), over one
// Redis connection: --url (or REDIS_URL), --prefix (or RQ_PREFIX).
import { Command, CommanderError, Option } from 'commander';
import { hostname, userInfo } from 'os';
import {
  ActivityLog,
  closeClient,
  createClient,
  describeConnection,
  InvalidOptionError,
  JobProducer,
  LIBRARY_VERSION,
  ListedState,
  QueueAdmin,
  QueueInspector,
  RedisClient,
  RedisConnection,
  RedisQueueError,
  RedisUnavailableError,
} from '../engine/index.js';
import * as commands from './cli.commands.js';
import { CliContext, CliFailure, LISTED_STATES, UsageError } from './cli.commands.js';
import { cliMessages } from './cli.messages.js';

/** Exit codes: 0 done, 1 the command failed (not found, refused), 2 bad arguments, 3 Redis unreachable. */
const EXIT = { failed: 1, usage: 2, unreachable: 3 } as const;

interface GlobalOptions {
  url: string;
  cluster?: Array<{ host: string; port: number }>;
  prefix: string;
  json: boolean;
  timeout: number;
}

const integer = (option: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new UsageError(cliMessages.badInteger(option, value));
  return Number(value);
};

function parseNodes(value: string): Array<{ host: string; port: number }> {
  return value.split(',').map((node) => {
    const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(node.trim());
    if (!m) throw new UsageError(cliMessages.badNode(node));
    return { host: m[1], port: Number(m[2]) };
  });
}

function parseState(value: string): ListedState {
  if (!(LISTED_STATES as readonly string[]).includes(value)) throw new UsageError(cliMessages.badState(value, LISTED_STATES));
  return value as ListedState;
}

export function buildProgram(run: (action: (ctx: CliContext) => Promise<void>) => Promise<void>): Command {
  const program = new Command('rq')
    .description(cliMessages.description)
    .version(LIBRARY_VERSION)
    .addOption(new Option('--url <url>', 'Redis URL (redis:// or rediss://)').env('REDIS_URL').default('redis://127.0.0.1:6379'))
    .addOption(new Option('--cluster <nodes>', 'Redis Cluster seed nodes, host:port,host:port (instead of --url)').env('RQ_CLUSTER').argParser(parseNodes))
    .addOption(new Option('--prefix <prefix>', 'key prefix of the queues').env('RQ_PREFIX').default('rq'))
    .addOption(new Option('--timeout <ms>', 'ms to wait for Redis').argParser(integer('--timeout')).default(5000))
    .option('--json', 'print JSON for scripts instead of tables', false)
    .showHelpAfterError('(rq --help lists the commands and options)')
    .configureOutput({ outputError: (text, write) => write(text) })
    .exitOverride();
  const page = (cmd: Command) =>
    cmd
      .addOption(new Option('--offset <n>', 'skip this many').argParser(integer('--offset')).default(0))
      .addOption(new Option('--limit <n>', 'show at most this many (1-1000)').argParser(integer('--limit')).default(20));

  program.command('status').description('every queue: counts, rates of the last 5 minutes, workers, paused').action(() => run((ctx) => commands.status(ctx)));
  page(
    program
      .command('jobs <queue>')
      .description('a page of the jobs in one state (ready in run order, delayed by due time, dead and completed newest first)')
      .addOption(new Option('--state <state>', 'ready, delayed, active, dead or completed').argParser(parseState).default('ready')),
  ).action((queue: string, o: { state: ListedState; offset: number; limit: number }) => run((ctx) => commands.jobs(ctx, queue, o.state, o.offset, o.limit)));
  program.command('job <queue> <id>').description('one job: state, attempts, payload, progress, result, error and stack').action((queue: string, id: string) => run((ctx) => commands.job(ctx, queue, id)));
  page(program.command('dead <queue>').description('the dead-letter set, newest first, with each error')).action((queue: string, o: { offset: number; limit: number }) =>
    run((ctx) => commands.dead(ctx, queue, o.offset, o.limit)),
  );
  program
    .command('retry <queue> [ids...]')
    .description('put dead jobs back in the queue, attempts reset (the ids given, or --all)')
    .option('--all', 'every dead job of the queue', false)
    .action((queue: string, ids: string[], o: { all: boolean }) => run((ctx) => commands.retryOrRemove(ctx, 'retry', queue, ids, o.all)));
  program
    .command('remove <queue> [ids...]')
    .description('delete dead jobs (the ids given, or --all)')
    .option('--all', 'every dead job of the queue', false)
    .action((queue: string, ids: string[], o: { all: boolean }) => run((ctx) => commands.retryOrRemove(ctx, 'remove', queue, ids, o.all)));
  program.command('pause <queue>').description('stop every worker from starting jobs of the queue (persisted in Redis)').action((queue: string) => run((ctx) => commands.pauseOrResume(ctx, 'pause', queue)));
  program.command('resume <queue>').description('let workers start jobs of the queue again').action((queue: string) => run((ctx) => commands.pauseOrResume(ctx, 'resume', queue)));
  program.command('cancel <queue> <id>').description('cancel a tracked job: removed if waiting, aborted if running').action((queue: string, id: string) => run((ctx) => commands.cancel(ctx, queue, id)));
  program
    .command('promote <queue> <id>')
    .description('run a delayed job now')
    .option('--member <member>', 'the stored member of an untracked delayed job (from `rq jobs <queue> --state delayed --json`)')
    .action((queue: string, id: string, o: { member?: string }) => run((ctx) => commands.promote(ctx, queue, id, o.member)));
  program.command('schedules [queue]').description('recurring schedules with their next and last run (every queue, or one)').action((queue: string | undefined) => run((ctx) => commands.schedules(ctx, queue)));
  program.command('workers').description('worker processes alive: host, pid, queues, concurrency, heartbeat').action(() => run((ctx) => commands.workers(ctx)));
  program
    .command('watch')
    .description('the status, refreshed until Ctrl+C')
    .addOption(new Option('--interval <ms>', 'ms between refreshes').argParser(integer('--interval')).default(2000))
    .addOption(new Option('--count <n>', 'stop after this many refreshes').argParser(integer('--count')))
    .action((o: { interval: number; count?: number }) =>
      run((ctx) => {
        const stop = new AbortController();
        process.once('SIGINT', () => stop.abort());
        process.once('SIGTERM', () => stop.abort());
        return commands.watch(ctx, Math.max(100, o.interval), o.count, stop.signal);
      }),
    );
  return program;
}

export async function main(argv: string[]): Promise<number> {
  let client: RedisClient | undefined;
  let where = '';
  const program = buildProgram(async (action) => {
    const o = program.opts<GlobalOptions>();
    const connection: RedisConnection = o.cluster ? { cluster: o.cluster } : o.url;
    where = describeConnection(connection);
    client = createClient(connection, {
      role: 'producer',
      name: 'rq-cli',
      commandTimeout: o.timeout,
      logger: { log: () => undefined, warn: () => undefined, error: () => undefined },
    });
    const settings = { timeout: o.timeout };
    await action({
      inspector: new QueueInspector(client, o.prefix, settings),
      admin: new QueueAdmin(client, o.prefix, settings),
      producer: new JobProducer({ client, prefix: o.prefix, timeout: o.timeout }),
      activity: new ActivityLog(client, o.prefix),
      actor: `${userInfo().username}@${hostname()}`,
      prefix: o.prefix,
      json: o.json,
      out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    });
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end this way too, with exit code 0.
      return error.exitCode === 0 ? 0 : EXIT.usage;
    }
    if (error instanceof UsageError || error instanceof InvalidOptionError) {
      process.stderr.write(`${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof CliFailure) {
      process.stderr.write(`${error.message}\n`);
      return EXIT.failed;
    }
    if (error instanceof RedisUnavailableError) {
      process.stderr.write(`${cliMessages.unreachable(where, error.message.replace('option "commandTimeout"', '--timeout'))}\n`);
      return EXIT.unreachable;
    }
    if (error instanceof RedisQueueError) {
      process.stderr.write(`${cliMessages.failed(error.message)}\n`);
      return EXIT.failed;
    }
    // An option parser of ours threw inside commander (e.g. --limit abc).
    if ((error as { code?: string }).code === 'commander.invalidArgument') return EXIT.usage;
    throw error;
  } finally {
    if (client) await closeClient(client);
  }
}

process.exitCode = await main(process.argv.slice(2));
