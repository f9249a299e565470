// Issue 19, the console in a real browser: Debian's chromium driven by playwright-core. The seed's incident
// (no token → deliveries quarantined → restart with the token, automatic replay off), then an operator with
// only a browser: signs in, finds the quarantined deliveries, dry-runs, applies, sees them delivered to the
// application (a loopback upstream), and redelivers the one the application refused. Screenshots are saved.
// This test needs chromium: it FAILS when the browser is missing (the full tier installs it).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CRM_DEAL_ADD, TASK_ADD, WEBHOOK_TOKEN, APP_TOKEN, crmDealUpdateCyrillic } from '../support/bitrix-bodies';
import { ADMIN_TOKEN } from '../support/admin-client';
import { SIGNING_SECRET, Upstream } from '../forward/support/upstream';
import { spawnService, type RunningService } from '../support/spawn-service';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS =
  process.env.CONSOLE_SCREENSHOTS ?? path.join(os.tmpdir(), 'bitrix24-webhook-guard-console-screenshots');
const TOKENS = `default=${WEBHOOK_TOKEN},app=${APP_TOKEN}`;

describe('the operator console in chromium: the incident recovered with three clicks', function () {
  this.timeout(180_000);
  let browser: BrowserContext | undefined;
  let service: RunningService | undefined;
  let upstream: Upstream;
  let profile: string;

  before(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `chromium is not installed at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH): the browser test cannot run`,
      );
    mkdirSync(SCREENSHOTS, { recursive: true });
    profile = mkdtempSync(path.join(os.tmpdir(), 'console-chromium-'));
    // A fresh profile directory (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1000, height: 800 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    upstream = new Upstream();
    await upstream.start();
  });
  after(async () => {
    await browser?.close();
    await service?.stop();
    await upstream?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function shot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  }

  it('signs in, dry-runs, replays the quarantined deliveries, sees them delivered, and redelivers a dead letter', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'console-store-'));
    const env = {
      DATA_DIR: dir,
      ADMIN_TOKEN,
      QUARANTINE_AUTO_REPLAY: 'off',
      FORWARD_URL: upstream.url,
      FORWARD_SIGNING_SECRET: SIGNING_SECRET,
      FORWARD_POLL_SECONDS: '0.05',
      FORWARD_MAX_ATTEMPTS: '1',
      SHUTDOWN_DRAIN_SECONDS: '0',
    };
    // The outage: no token configured; three real deliveries refused with 503 and quarantined.
    service = await spawnService({ env });
    for (const body of [CRM_DEAL_ADD, TASK_ADD, crmDealUpdateCyrillic()]) {
      const response = await fetch(`${service.url}/api/bitrix/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      expect(response.status).to.equal(503);
    }
    await service.stop();
    // The token set and the service restarted. The application refuses the task event the first time: a dead letter.
    upstream.reply = (request, nth) =>
      request.body.includes('"ONTASKADD"') && nth === 1 ? { status: 422, body: 'task 1 unknown' } : { status: 200 };
    service = await spawnService({ env: { ...env, BITRIX24_WEBHOOK_TOKENS: TOKENS } });

    const page = await browser!.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    await page.goto(`${service.url}/admin`);
    await shot(page, '1-sign-in');
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Quarantine: 3 awaiting replay' }).waitFor();
    expect(await page.getByRole('heading', { name: /^not_configured/ }).textContent()).to.equal(
      'not_configured (not_configured, 3)',
    );
    expect(await page.locator('.group p').first().textContent()).to.match(/^Cause: 503: the service has no token/);
    await shot(page, '2-console');

    await page.getByRole('button', { name: 'Dry run: replay all' }).click();
    await page.getByRole('status').filter({ hasText: '3 would be released' }).waitFor();
    await shot(page, '3-dry-run');
    expect(upstream.received).to.deep.equal([]);

    await page.getByRole('button', { name: 'Apply: release 3' }).click();
    await page.getByRole('status').filter({ hasText: '3 released as accepted events' }).waitFor();
    await shot(page, '4-applied');
    await upstream.waitFor(() => upstream.received.length >= 3, 30_000, 'the three released events');
    expect(upstream.deliveredIds()).to.have.length(2);

    // The application refused the task event: the console shows it as a dead letter with its error.
    const deadline = Date.now() + 20_000;
    for (;;) {
      await page.goto(`${service.url}/admin#dead-letters`);
      if ((await page.getByRole('heading', { name: 'Dead letters: 1' }).count()) === 1 || Date.now() > deadline) break;
      await page.waitForTimeout(200);
    }
    await page.getByRole('heading', { name: 'Dead letters: 1' }).waitFor();
    expect(await page.locator('#dead-letters ~ div td').nth(3).textContent()).to.match(/422/);
    await shot(page, '5-dead-letter');
    await page.getByRole('button', { name: /^Redeliver [0-9A-Z]+$/ }).click();
    await page.getByRole('status').filter({ hasText: '1 dead letter reset to pending' }).waitFor();
    await upstream.waitFor(() => upstream.deliveredIds().length >= 3, 30_000, 'the redelivered event');
    await shot(page, '6-redelivered');
    expect(new Set(upstream.deliveredIds()).size).to.equal(3);
    expect(upstream.received.every((received) => received.verified)).to.equal(true);
    expect(violations).to.deep.equal([]);
    // Each release logged and counted as the console's.
    expect(
      service.logs
        .filter((line) => line.message === 'quarantined delivery replayed: now an accepted event')
        .map((line) => line.how),
    ).to.deep.equal(['console', 'console', 'console']);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).to.include('bitrix_webhook_quarantine_releases_total{how="console"} 3');
    await page.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
