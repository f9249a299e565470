import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { spawnService, type RunningService } from '../support/spawn-service';
import { runCli } from '../cli/run-cli';

const TOKEN = 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas';

describe('start-up of the real process', () => {
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
  });

  it('states the configuration in one line: token names with fingerprints, sources, where traces go', async () => {
    service = await spawnService({
      env: { BITRIX24_WEBHOOK_TOKENS: `crm=${TOKEN}`, BITRIX24_OUTGOING_WEBHOOK_TOKEN: `  ${TOKEN}x  ` },
    });
    const line = await service.waitForLog((entry) => entry.message === 'bitrix24-webhook-guard starting');
    expect(line.tokens).to.deep.equal([
      { name: 'default', fingerprint: '6b761cf1' }, // printf %s <token>x | sha256sum | cut -c1-8
      { name: 'crm', fingerprint: 'ce338b01' },
    ]);
    expect(line.token_sources).to.deep.equal(['body', 'query', 'header']);
    expect(line.telemetry).to.equal(
      'traces: not exported; logs: not exported (set OTEL_EXPORTER_OTLP_ENDPOINT to export)',
    );
    expect(line.hygiene_warnings).to.deep.equal([
      'BITRIX24_OUTGOING_WEBHOOK_TOKEN: surrounding whitespace or quotes were removed from the token',
      'BITRIX24_OUTGOING_WEBHOOK_TOKEN: the token is 33 characters long; a Bitrix24 token is 32 characters of 0-9 and a-z',
    ]);
    const warning = await service.waitForLog((entry) => String(entry.message).startsWith('configuration:'));
    expect(warning.level).to.equal('warn');
    expect(service.stdout()).not.to.include(TOKEN);
    const ready = await fetch(`${service.url}/readyz`);
    expect(ready.status).to.equal(200);
    expect(await ready.json()).to.deep.equal({
      status: 'ready',
      tokens_configured: 2,
      tokens: [
        { name: 'default', fingerprint: '6b761cf1' },
        { name: 'crm', fingerprint: 'ce338b01' },
      ],
      store: { status: 'ok' },
      warnings: [
        'BITRIX24_OUTGOING_WEBHOOK_TOKEN: surrounding whitespace or quotes were removed from the token',
        'BITRIX24_OUTGOING_WEBHOOK_TOKEN: the token is 33 characters long; a Bitrix24 token is 32 characters of 0-9 and a-z',
      ],
    });
  });

  it('starts with no token, fails closed, and says so loudly at start-up and on /readyz', async () => {
    service = await spawnService({ env: {} });
    const alarm = await service.waitForLog((entry) => entry.level === 'error');
    expect(alarm.message).to.match(/^NO WEBHOOK TOKEN CONFIGURED/);
    expect(alarm.message)
      .to.include('BITRIX24_OUTGOING_WEBHOOK_TOKEN')
      .and.include('Outgoing webhook')
      .and.include('every delivery is being refused');
    // True words: the deliveries are quarantined, and the line says how to release them.
    expect(alarm.message)
      .to.include('they are quarantined in the store')
      .and.include('bitrix24-webhook-guard quarantine replay --apply');
    expect(alarm.message).not.to.include('events are lost');
    const ready = await fetch(`${service.url}/readyz`);
    expect(ready.status).to.equal(503);
    expect(((await ready.json()) as { reason: string }).reason).to.equal('not_configured');
    const delivery = await fetch(`${service.url}/api/bitrix/webhook`, { method: 'POST' });
    expect(delivery.status).to.equal(503);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).to.include('\nbitrix_webhook_tokens_configured 0\n');
    expect((await fetch(`${service.url}/healthz`)).status).to.equal(200);
  });

  const refusals: Array<[string, Record<string, string>, RegExp]> = [
    [
      'an empty token',
      { BITRIX24_OUTGOING_WEBHOOK_TOKEN: '  ' },
      /BITRIX24_OUTGOING_WEBHOOK_TOKEN: the token is empty/,
    ],
    [
      'a malformed token list',
      { BITRIX24_WEBHOOK_TOKENS: `crm ${TOKEN}` },
      /BITRIX24_WEBHOOK_TOKENS entry 1: expected name=token/,
    ],
    [
      'an unreadable *_FILE path',
      { BITRIX24_WEBHOOK_TOKENS_FILE: '/nonexistent/tokens' },
      /BITRIX24_WEBHOOK_TOKENS_FILE: cannot read the file "\/nonexistent\/tokens" \(ENOENT\)/,
    ],
    [
      'an unknown token source',
      { BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN, BITRIX24_TOKEN_SOURCES: 'body,cookie' },
      /BITRIX24_TOKEN_SOURCES: unknown source "cookie"/,
    ],
  ];
  for (const [what, env, expected] of refusals) {
    it(`refuses to start with ${what}: exit 2 and one error line naming the variable`, async () => {
      const stopped = await spawnService({ env, expectExit: true });
      expect(stopped.process.exitCode).to.equal(2);
      const errors = stopped.logs.filter((entry) => entry.level === 'error');
      expect(errors).to.have.length(1);
      expect(String(errors[0]!.message)).to.match(expected);
      expect(stopped.stdout() + stopped.stderr()).not.to.include(TOKEN);
    });
  }

  it('warns at start-up, without refusing, of an unknown BITRIX24_* variable, a pasted URL and a Windows line ending', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'b24-secret-'));
    writeFileSync(path.join(dir, 'token'), `${TOKEN}\r\n`);
    const url = `https://example.bitrix24.ru/rest/1/${TOKEN}/`;
    service = await spawnService({
      env: {
        BITRIX24_OUTGOING_WEBHOOK_TOKEN_FILE: path.join(dir, 'token'),
        BITRIX24_WEBHOOK_TOKENS: `crm=${url}`,
        BITRIX24_OUTGOING_WEBHOK_TOKEN: TOKEN,
      },
    });
    const line = await service.waitForLog((entry) => entry.message === 'bitrix24-webhook-guard starting');
    const expected = [
      'BITRIX24_OUTGOING_WEBHOK_TOKEN is not a variable this service reads; did you mean BITRIX24_OUTGOING_WEBHOOK_TOKEN?',
      `BITRIX24_OUTGOING_WEBHOOK_TOKEN_FILE (${path.join(dir, 'token')}): the file has Windows line endings (\\r\\n); the \\r was removed (save it with Unix line endings)`,
      'BITRIX24_WEBHOOK_TOKENS entry 1 (crm): the token looks like a URL, not a token (a handler or REST URL pasted instead of the "Application token" field?)',
    ];
    expect(line.hygiene_warnings).to.deep.equal(expected);
    expect(line.tokens).to.deep.equal([
      { name: 'default', fingerprint: 'ce338b01' },
      { name: 'crm', fingerprint: '2b8c1f2c' }, // printf %s <url> | sha256sum | cut -c1-8
    ]);
    await service.waitForLog((entry) => entry.message === 'listening');
    const warnings = service.logs.filter((entry) => entry.level === 'warn').map((entry) => entry.message);
    expect(warnings).to.deep.equal(expected.map((warning) => `configuration: ${warning}`));
    expect(service.stdout()).not.to.include(TOKEN);
    // Ready, with warnings: the misspelt variable and the pasted URL are on /readyz, not only in a scrolled-away line.
    const ready = await fetch(`${service.url}/readyz`);
    expect(ready.status).to.equal(200);
    const answer = (await ready.json()) as { status: string; warnings: string[] };
    expect(answer.status).to.equal('ready');
    expect(answer.warnings).to.deep.equal(expected);
    expect(JSON.stringify(answer)).not.to.include(TOKEN);
    // doctor, run in the same environment, shows the same list.
    const doctor = await runCli(['doctor', '--json'], {
      BITRIX24_OUTGOING_WEBHOOK_TOKEN_FILE: path.join(dir, 'token'),
      BITRIX24_WEBHOOK_TOKENS: `crm=${url}`,
      BITRIX24_OUTGOING_WEBHOK_TOKEN: TOKEN,
    });
    expect(
      (JSON.parse(doctor.stdout) as { configuration: { warnings: string[] } }).configuration.warnings,
    ).to.deep.equal(expected);
  });

  it('reads a token from a *_FILE secret', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'b24-secret-'));
    writeFileSync(path.join(dir, 'token'), `${TOKEN}\n`);
    service = await spawnService({ env: { BITRIX24_OUTGOING_WEBHOOK_TOKEN_FILE: path.join(dir, 'token') } });
    const line = await service.waitForLog((entry) => entry.message === 'bitrix24-webhook-guard starting');
    expect(line.tokens).to.deep.equal([{ name: 'default', fingerprint: 'ce338b01' }]);
    expect(line.hygiene_warnings).to.deep.equal([]);
  });
});
