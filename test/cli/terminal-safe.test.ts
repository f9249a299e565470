// Issue #16, item 6: every client-controlled string the CLI prints for a person has C0, C1 (incl. the one-byte
// CSI 0x9b) and DEL escaped: a stored body or User-Agent cannot set the window title, clear the screen,
// write the clipboard (OSC 52) or fake a `released:` line. `--json` stays exact JSON.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parseStoreConfig } from '../../src/store/config';
import { openStore } from '../../src/store/open';
import type { JsonRecord } from '../support/ndjson';
import { runCli } from './run-cli';

const TITLE = '\x1b]0;pwned\x07';
const CLEAR = '\x1b[2J\x9b2J';
const CLIPBOARD = '\x1b]52;c;cm0gLXJmIH4=\x07';
const FAKE_LINE = '\r\nreleased:     2026-01-01 as event x\x7f';
const BODY = `event=ONCRMDEALADD&data%5BX%5D=${TITLE}${CLEAR}${CLIPBOARD}${FAKE_LINE}`;
const USER_AGENT = `curl/8 ${TITLE}\x9b31m`;
const EVENT = `ONX${CLEAR}`;
const DOMAIN = `a.bitrix24.com${TITLE}`;

/** Any control a terminal acts on, other than the newline that ends each printed line. */
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

describe('command line output is terminal-safe', function () {
  this.timeout(60_000);
  let dir: string;
  let env: Record<string, string>;
  let quarantineId: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cli-terminal-'));
    env = { DATA_DIR: dir };
    const store = await openStore(parseStoreConfig(env), { bodyLimitBytes: 256 * 1024 });
    quarantineId = await store.quarantine({
      receivedAt: new Date(),
      status: 401,
      reason: 'token_missing',
      diagnosis: 'no_auth_block',
      traceId: undefined,
      event: EVENT,
      eventHandlerId: undefined,
      ts: undefined,
      domain: DOMAIN,
      memberId: `m${CLIPBOARD}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': USER_AGENT },
      rawBody: BODY,
      candidates: [],
    });
    await store.saveAccepted({
      receivedAt: new Date(),
      traceId: undefined,
      webhook: 'default',
      event: EVENT,
      eventHandlerId: '1',
      ts: '1',
      domain: DOMAIN,
      memberId: 'm',
      data: {},
      rawBody: undefined,
      contentType: undefined,
    });
    await store.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('quarantine show escapes the body, the User-Agent and the facts, and prints no extra line', async () => {
    const shown = await runCli(['quarantine', 'show', quarantineId], env);
    expect(shown.code, shown.stderr).to.equal(0);
    expect(shown.stdout).to.not.match(CONTROL);
    const lines = shown.stdout.split('\n');
    expect(lines.filter((line) => line.startsWith('released:'))).to.deep.equal(['released:     no']);
    expect(lines).to.include('  user-agent: curl/8 \\x1b]0;pwned\\x07\\x9b31m');
    expect(lines).to.include(
      `event:        ONX\\x1b[2J\\x9b2J  portal a.bitrix24.com\\x1b]0;pwned\\x07  member m\\x1b]52;c;cm0gLXJmIH4=\\x07`,
    );
    expect(lines.at(-2)).to.equal(
      'event=ONCRMDEALADD&data%5BX%5D=\\x1b]0;pwned\\x07\\x1b[2J\\x9b2J\\x1b]52;c;cm0gLXJmIH4=\\x07\\x0d\\x0areleased:     2026-01-01 as event x\\x7f',
    );
  });

  it('quarantine list and events list escape the event and the portal', async () => {
    for (const args of [
      ['quarantine', 'list'],
      ['events', 'list'],
    ]) {
      const listed = await runCli(args, env);
      expect(listed.code, listed.stderr).to.equal(0);
      expect(listed.stdout, args.join(' ')).to.not.match(CONTROL);
      expect(listed.stdout.split('\n').filter(Boolean)).to.have.length(1);
      expect(listed.stdout).to.include('ONX\\x1b[2J\\x9b2J  a.bitrix24.com\\x1b]0;pwned\\x07');
    }
  });

  it('--json stays exact JSON: the same strings back, escaped only as JSON escapes them', async () => {
    const shown = await runCli(['quarantine', 'show', quarantineId, '--json'], env);
    const row = JSON.parse(shown.stdout) as JsonRecord;
    expect([row.body, row.headers['user-agent'], row.event, row.domain]).to.deep.equal([
      BODY,
      USER_AGENT,
      EVENT,
      DOMAIN,
    ]);
    const events = await runCli(['events', 'list', '--json'], env);
    expect((JSON.parse(events.stdout) as JsonRecord).event).to.equal(EVENT);
  });
});
