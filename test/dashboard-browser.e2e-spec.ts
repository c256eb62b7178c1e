// The dashboard in a real browser: Debian's Chromium driven by playwright-core (never a downloaded
// browser). Loads the page, sees the real counts, opens a dead job, retries it and watches it complete,
// checks that the guard and read-only mode hold in the browser too, and takes the README's screenshot.
import { Injectable } from '@nestjs/common';
import { existsSync, mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { BrowserContext, chromium } from 'playwright-core';
import { JobContext, PermanentJobError, QueueHandler } from 'nestjs-redis-queue';
import { DashboardApp, startDashboardApp } from './support/dashboard-app.js';
import { sleep, uniquePrefix, waitFor } from './support/helpers.js';
import { QueueApp, startQueueApp } from './support/queue-app.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = 'docs/dashboard.png';
process.env.OPS_TOKEN = 'browser-token';
const credentials = { 'x-ops-token': 'alice:browser-token' };

const mailbox = { fixed: false };

@Injectable()
class Handlers {
  @QueueHandler('email', { concurrency: 4, attempts: 2, backoff: { type: 'fixed', delay: 20 } })
  async send(payload: { to: string }, _job: JobContext) {
    await sleep(2);
    if (payload.to.endsWith('@bounce.example.com') && !mailbox.fixed) throw new PermanentJobError(`550 5.1.1 <${payload.to}>: mailbox unavailable`);
    if (payload.to.endsWith('@greylist.example.org') && !mailbox.fixed) throw new Error('451 4.7.1 greylisted, try again later');
  }
}

function launch(userDataDir: string, headers?: Record<string, string>): Promise<BrowserContext> {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    viewport: { width: 1360, height: 900 },
    extraHTTPHeaders: headers,
  });
}

describe('the dashboard in Chromium', () => {
  let worker: QueueApp;
  let dash: DashboardApp;
  let readOnly: DashboardApp;
  const profiles: string[] = [];
  const profile = () => {
    const dir = mkdtempSync(join(tmpdir(), 'rq-chromium-'));
    profiles.push(dir);
    return dir;
  };
  let deadId = '';

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
    const prefix = uniquePrefix('browser');
    worker = await startQueueApp([Handlers], { prefix });
    dash = await startDashboardApp('express', prefix);
    readOnly = await startDashboardApp('express', prefix, { readOnly: true });
    const emails = Array.from({ length: 240 }, (_, i) =>
      i % 40 === 7 ? `user${i}@bounce.example.com` : i % 60 === 13 ? `user${i}@greylist.example.org` : `user${i}@example.com`,
    );
    for (const to of emails) await worker.producer.enqueue('email', { to }, { track: true });
    await worker.producer.enqueueMany('reports', Array.from({ length: 1250 }, (_, i) => ({ payload: { report: `invoice-${1000 + i}`, format: 'pdf' } })));
    for (let i = 0; i < 12; i++) await worker.producer.enqueue('webhooks', { url: `https://hooks.example.com/${i}` }, { delay: 600_000 + i * 60_000 });
    await waitFor(async () => {
      const c = await worker.inspector.counts('email');
      return c.ready === 0 && c.active === 0 && c.delayed === 0 && c.dead === 10;
    }, 30_000, 'the email queue to settle with 10 dead jobs');
    deadId = (await worker.inspector.jobs('email', 'dead', { limit: 1 })).jobs[0].id;
  });

  afterAll(async () => {
    await dash?.close();
    await readOnly?.close();
    await worker?.close();
    for (const dir of profiles) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a browser without the guard\'s credentials with 403', async () => {
    const browser = await launch(profile());
    try {
      const page = await browser.newPage();
      const response = await page.goto(`${dash.url}/queues`);
      expect(response?.status()).toBe(403);
      expect(await page.textContent('body')).toContain('Forbidden');
    } finally {
      await browser.close();
    }
  });

  it('shows the real counts, opens a dead job, retries it and shows it complete, live', async () => {
    const browser = await launch(profile(), credentials);
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
      page.on('response', (response) => response.status() >= 400 && errors.push(`${response.status()} ${response.url()}`));
      await page.goto(`${dash.url}/queues`);

      // The overview's queue table says what Redis holds.
      const counts = await worker.inspector.countsOf(['email', 'reports', 'webhooks']);
      for (const [queue, c] of counts) {
        const row = page.locator(`tr[data-queue="${queue}"] td.num`);
        await row.first().waitFor();
        expect({ queue, cells: (await row.allTextContents()).slice(0, 4) }).toEqual({
          queue,
          cells: [c.ready, c.delayed, c.active, c.dead].map((n) => n.toLocaleString('en-US')),
        });
      }
      await page.locator('#live.on').waitFor();
      expect(await page.textContent('#actor')).toBe('alice');

      // The email queue's dead jobs, newest first; open the newest.
      await page.click('#queue-nav [data-queue="email"]');
      await page.click('.tabs a:has-text("Dead")');
      await page.locator(`tr[data-job="${deadId}"]`).waitFor();
      expect(await page.locator('tbody tr[data-job]').count()).toBe(10);
      await page.click(`tr[data-job="${deadId}"] a`);
      await page.locator('[data-state="dead"]').waitFor();
      expect(await page.textContent('[data-error]')).toMatch(/^(PermanentJobError: 550 5\.1\.1 <user\d+@bounce\.example\.com>: mailbox unavailable|Error: 451 4\.7\.1 greylisted, try again later)$/);
      expect(await page.textContent('[data-payload]')).toContain('"to":');

      // Retry it: the job page follows it to completed without a reload.
      mailbox.fixed = true;
      await page.click('button:has-text("Retry")');
      await page.locator('[data-state="completed"]').waitFor({ timeout: 20_000 });
      expect((await worker.inspector.job('email', deadId))?.state).toBe('completed');
      expect(await page.textContent('.toasts')).toContain(`retry job ${deadId}: 1 job(s)`);

      // Find by id from the search box.
      await page.fill('#search-id', deadId);
      await page.selectOption('#search-queue', 'email');
      await page.click('#search button');
      await page.locator('[data-state="completed"]').waitFor();

      // The overview, with the retry in the activity list: the README's screenshot.
      await page.goto(`${dash.url}/queues#/`);
      await page.locator('tr[data-queue="email"]').waitFor();
      await page.locator('text=alice').first().waitFor();
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('read-only: no action buttons work, and the server refuses an action the page forces', async () => {
    const browser = await launch(profile(), credentials);
    try {
      const page = await browser.newPage();
      await page.goto(`${readOnly.url}/queues#/queues/email/dead`);
      await page.locator('#read-only:not([hidden])').waitFor();
      await page.locator('tbody tr[data-job]').first().waitFor();
      for (const label of ['Pause', 'Retry all', 'Remove all']) expect(await page.locator(`button:has-text("${label}")`).isDisabled()).toBe(true);
      const status = await page.evaluate(() => fetch('api/queues/email/pause', { method: 'POST', headers: { 'x-rq-dashboard': '1', 'content-type': 'application/json' }, body: '{}' }).then((r) => r.status));
      expect(status).toBe(403);
      expect((await worker.inspector.overview('email')).paused).toBe(false);
    } finally {
      await browser.close();
    }
  });
});
