// Issue #20 §2: a delivery that could be genuine is kept. A Bitrix24 body relabelled by a proxy (415) and a
// Bitrix24 body POSTed to a mistyped path (404) are read within the limits, quarantined with their diagnosis,
// and released by `quarantine replay` once a configured token matches; a GET on the webhook path (a followed
// redirect) is logged with its own diagnosis and counted. The real process, a real SQLite file, the real CLI.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN, chatBotMessage } from '../support/bitrix-bodies';
import { runCli } from '../cli/run-cli';
import { spawnService, type RunningService } from '../support/spawn-service';
import { METRIC } from '../../src/vocabulary/names';
import { REFUSAL_MESSAGE } from '../../src/receive/refusal';
import { ndjson } from '../support/ndjson';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';
/** A chat-bot message of 5 000 Cyrillic letters: past the 16 KiB a wrong path is otherwise peeked at, within BODY_LIMIT. */
const LONG_CHAT = chatBotMessage(WEBHOOK_TOKEN, WEBHOOK_TOKEN).replace(
  'PARAMS%5D%5BMESSAGE%5D=',
  `PARAMS%5D%5BMESSAGE%5D=${'%D0%AF'.repeat(5_000)}`,
);

async function send(
  service: RunningService,
  pathname: string,
  body: string,
  contentType: string,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${service.url}${pathname}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  });
  return { status: response.status, body: await response.json() };
}

function series(text: string, name: string, label: string, value: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${label}="${value}"}`));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('every delivery that could be genuine is kept (real process, SQLite, CLI)', function () {
  this.timeout(90_000);
  let dir: string;
  let env: Record<string, string>;
  let service: RunningService | undefined;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'keep-genuine-'));
    env = { DATA_DIR: path.join(dir, 'data'), BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN };
  });
  afterEach(async () => {
    await service?.stop();
    service = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('quarantines a relabelled Bitrix24 body and one on a wrong path (whole, past 16 KiB), not a scanner; replay releases exactly the Bitrix24 ones', async () => {
    service = await spawnService({ env });
    expect(await send(service, PATH, CRM_DEAL_ADD, 'text/plain; charset=utf-8')).to.deep.equal({
      status: 415,
      body: { status: 'rejected', reason: 'unsupported_media_type' },
    });
    expect(await send(service, PATH, 'hello, this is not a delivery', 'text/plain')).to.deep.equal({
      status: 415,
      body: { status: 'rejected', reason: 'unsupported_media_type' },
    });
    expect(await send(service, '/api/bitrix/webhok', CRM_DEAL_ADD.replace('7405', '7406'), FORM)).to.deep.equal({
      status: 404,
      body: { status: 'not_found' },
    });
    await new Promise((resolve) => setTimeout(resolve, 1100)); // wrong-path lines are rate-limited to one a second
    expect(await send(service, '/bitrix/webhook', LONG_CHAT, FORM)).to.deep.equal({
      status: 404,
      body: { status: 'not_found' },
    });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await send(service, '/wp-login.php', 'log=admin&pwd=hunter2&wp-submit=Log+In', FORM)).to.deep.equal({
      status: 404,
      body: { status: 'not_found' },
    });

    const listed = await runCli(['quarantine', 'list', '--json'], env);
    expect(listed.code, listed.stderr).to.equal(0);
    const rows = ndjson(listed.stdout).sort((a, b) =>
      String(a.receivedAt ?? a.received_at).localeCompare(String(b.receivedAt ?? b.received_at)),
    );
    expect(rows.map((row) => [row.reason, row.diagnosis, row.event ?? null])).to.deep.equal([
      ['unsupported_media_type', 'unsupported_media_type_bitrix24_body', 'ONCRMDEALADD'],
      ['unsupported_media_type', 'unsupported_media_type', null],
      ['not_found', 'wrong_path_bitrix24_body', 'ONCRMDEALADD'],
      ['not_found', 'wrong_path_bitrix24_body', 'ONIMBOTMESSAGEADD'],
    ]);

    const replayed = await runCli(['quarantine', 'replay', '--apply', '--json'], env);
    expect(replayed.code, replayed.stderr).to.equal(0);
    const lines = ndjson(replayed.stdout);
    expect(lines.at(-1)!.summary).to.deep.include({ apply: true, released: 3, not_replayable: 1 });
    const events = ndjson((await runCli(['events', 'list', '--json'], env)).stdout);
    expect(
      events
        .map((event) => [
          event.webhook,
          event.event,
          JSON.stringify(event.data).includes('Я'.repeat(5_000)) ? 'long' : event.data,
        ])
        .sort(),
    ).to.deep.equal([
      ['default', 'ONCRMDEALADD', { FIELDS: { ID: '7405' } }],
      ['default', 'ONCRMDEALADD', { FIELDS: { ID: '7406' } }],
      ['default', 'ONIMBOTMESSAGEADD', 'long'],
    ]);
    expect(service.stdout() + listed.stdout + replayed.stdout).not.to.include(WEBHOOK_TOKEN);
  });

  it('names a GET on the webhook path (a followed redirect): 405 with Allow: POST, one warn line, counted by diagnosis and reason', async () => {
    service = await spawnService({ env });
    const response = await fetch(`${service.url}${PATH}`, { headers: { 'user-agent': 'Bitrix24 Webhook Engine' } });
    expect(response.status).to.equal(405);
    expect(response.headers.get('allow')).to.equal('POST');
    expect(await response.json()).to.deep.equal({ status: 'method_not_allowed' });
    const line = await service.waitForLog((entry) => entry.message === REFUSAL_MESSAGE);
    expect(line).to.deep.include({
      level: 'warn',
      stage: 'route',
      result: 'not_verified',
      reason: 'method_not_allowed',
      diagnosis: 'redirected_to_get',
      path: PATH,
    });
    const text = await (await fetch(`${service.url}/metrics`)).text();
    expect(series(text, METRIC.rejectionsByDiagnosis, 'diagnosis', 'redirected_to_get')).to.equal(1);
    expect(series(text, METRIC.requestsRejected, 'reason', 'method_not_allowed')).to.equal(1);
  });
});
