// Issue #16, item 1: nothing kept holds a token. Every hostile shape of the issue goes through the real
// service process into a real store (SQLite and PostgreSQL); then every file of the SQLite store (with its
// -wal) and every PostgreSQL table is scanned for the token, and user text that merely looks like a form
// pair is read back byte for byte.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN, webhookAuth } from '../support/bitrix-bodies';
import { runCli } from '../cli/run-cli';
import { spawnService, type RunningService } from '../support/spawn-service';
import { cleanUpStores, STORE_ADAPTERS } from '../support/store-adapters';
import { ndjson } from '../support/ndjson';

const PATH = '/api/bitrix/webhook';
const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const T = WEBHOOK_TOKEN;
const MESSAGE = 'see https://x.example/?a=1&access_token=abc&refresh_token=def "quoted" & more';
const DEAL = CRM_DEAL_ADD.replace(/&auth%5Bapplication_token%5D=[^&]*/, '');

/** Refused deliveries (token in a place the receiver does not read): quarantined with their bodies. */
const REFUSED: Array<{ name: string; type: string; body: string; headers?: Record<string, string> }> = [
  { name: 'wrong-case key', type: FORM, body: `${DEAL}&auth%5BAPPLICATION_TOKEN%5D=${T}` },
  { name: 'double-encoded key', type: FORM, body: `${DEAL}&auth%255Bapplication_token%255D=${T}` },
  { name: 'array-shaped key', type: FORM, body: `${DEAL}&auth%5Bapplication_token%5D%5B%5D=${T}` },
  { name: 'dotted key', type: FORM, body: `${DEAL}&auth.application_token=${T}` },
  {
    name: 'JSON Application_Token',
    type: JSON_TYPE,
    body: JSON.stringify({ event: 'ONCRMDEALADD', auth: { domain: 'a.bitrix24.com', Application_Token: T } }),
  },
  {
    name: 'JSON array of tokens',
    type: JSON_TYPE,
    body: JSON.stringify({ event: 'ONCRMDEALADD', auth: { application_token: [T] } }),
  },
  {
    name: 'JSON ACCESS_TOKEN in data',
    type: JSON_TYPE,
    body: JSON.stringify({ event: 'ONCRMDEALADD', data: { ACCESS_TOKEN: T } }),
  },
  {
    name: 'token in a message text and the User-Agent',
    type: FORM,
    body: `${DEAL}&data%5BMESSAGE%5D=my+token+${T}`,
    headers: { 'user-agent': `agent/${T}` },
  },
  { name: 'malformed JSON', type: JSON_TYPE, body: `{"auth":{"Application_Token":"${T}"` },
  { name: 'raw NUL byte', type: FORM, body: `${DEAL}&data%5BX%5D=a\u0000b` },
];

/** Accepted deliveries: the token where Bitrix24 puts it, and user text that must survive byte for byte. */
const ACCEPTED: Array<{ name: string; type: string; body: string; message?: string }> = [
  {
    name: 'JSON chat message with &access_token= in its text',
    type: JSON_TYPE,
    body: JSON.stringify({ event: 'ONIMBOTMESSAGEADD', data: { PARAMS: { MESSAGE } }, auth: webhookAuth(T) }),
    message: MESSAGE,
  },
  {
    name: 'form chat message with &access_token= in its text',
    type: FORM,
    body: `${CRM_DEAL_ADD}&data%5BPARAMS%5D%5BMESSAGE%5D=${encodeURIComponent(MESSAGE)}`,
    message: MESSAGE,
  },
  {
    name: 'raw NUL byte in a form value',
    type: FORM,
    body: `${CRM_DEAL_ADD}&data%5BPARAMS%5D%5BMESSAGE%5D=a\u0000b`,
    message: 'a\u0000b',
  },
];

describe('no token at rest after every hostile shape (real process, both stores)', function () {
  this.timeout(180_000);
  after(cleanUpStores);

  for (const adapter of STORE_ADAPTERS) {
    describe(adapter.name, () => {
      let env: Record<string, string>;
      let service: RunningService | undefined;
      before(async () => {
        env = { ...(await adapter.freshEnv()), BITRIX24_OUTGOING_WEBHOOK_TOKEN: T };
        service = await spawnService({ env });
      });
      after(async () => {
        await service?.stop();
      });

      it('answers each refused shape 401/403 and keeps every one in the quarantine', async () => {
        for (const shape of REFUSED) {
          const response = await fetch(`${service!.url}${PATH}`, {
            method: 'POST',
            headers: { 'content-type': shape.type, ...shape.headers },
            body: shape.body,
          });
          expect(response.status, shape.name).to.be.oneOf([400, 401, 403]);
        }
        const listed = await runCli(['quarantine', 'list', '--json', '--limit', '1000'], env);
        expect(listed.code, listed.stderr).to.equal(0);
        expect(ndjson(listed.stdout)).to.have.length(REFUSED.length);
      });

      it('accepts each genuine shape (a raw NUL byte too) and reads its message text back byte for byte', async () => {
        for (const shape of ACCEPTED) {
          const response = await fetch(`${service!.url}${PATH}`, {
            method: 'POST',
            headers: { 'content-type': shape.type },
            body: shape.body,
          });
          expect(response.status, shape.name).to.equal(200);
        }
        const listed = await runCli(['events', 'list', '--json'], env);
        expect(listed.code, listed.stderr).to.equal(0);
        expect(ndjson(listed.stdout).map((event) => event.data?.PARAMS?.MESSAGE)).to.deep.equal(
          ACCEPTED.map((shape) => shape.message),
        );
      });

      it('holds the token nowhere: not in any table, not in any file of the store', async () => {
        const tables = await adapter.dumpTables(env);
        expect(Object.keys(tables)).to.include.members(['events', 'quarantine']);
        expect(JSON.stringify(tables)).to.not.include(T);
        if (adapter.name === 'sqlite') {
          const files = readdirSync(env.DATA_DIR!);
          expect(files.some((file) => file.endsWith('-wal'))).to.equal(true);
          for (const file of files)
            expect(readFileSync(path.join(env.DATA_DIR!, file)).includes(T), file).to.equal(false);
        }
        const shown = await runCli(['quarantine', 'list', '--limit', '1000'], env);
        expect(shown.stdout + shown.stderr).to.not.include(T);
      });
    });
  }
});
