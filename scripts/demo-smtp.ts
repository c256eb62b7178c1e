// `npm run demo:smtp`: the demo's SMTP sink on its own, for running the demo apps by hand. It listens on
// 127.0.0.1:$SMTP_PORT (default 2525), writes each message to ./demo-outbox/, and answers like in the demo:
// 550 for nobody@bounce.example.com, 451 once for alan@greylist.example.org. Ctrl+C stops it.
import { join, relative } from 'node:path';
import { REPO_ROOT } from './demo/app-process.js';
import { SINK_RULES } from './demo/scenario.js';
import { SmtpSink } from './demo/smtp-sink.js';

const outbox = join(REPO_ROOT, 'demo-outbox');
const sink = await SmtpSink.start({ outbox, port: Number(process.env.SMTP_PORT ?? 2525), ...SINK_RULES });
console.log(`SMTP sink on ${sink.url}, writing to ${relative(process.cwd(), outbox)}/ (Ctrl+C stops it)`);
console.log(`  start the worker with SMTP_URL=${sink.url}`);
sink.on('mail', (mail) => console.log(`accepted mail to ${mail.recipients.join(', ')}: "${mail.subject}" -> ${relative(process.cwd(), mail.file)}`));
sink.on('refusal', (refusal) => console.log(`refused ${refusal.address}: ${refusal.reply}`));

const stop = () => void sink.stop().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
