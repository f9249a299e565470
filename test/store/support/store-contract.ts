// The store contract, one describe block per adapter: test/store/store.test.ts runs it against SQLite (fast
// tier), test/process/store-postgres.test.ts against a throwaway PostgreSQL server (full tier).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import readline from 'node:readline';
import { expect } from 'chai';
import { Client } from 'pg';
import type { StoreConfig } from '../../../src/store/config';
import { openStore } from '../../../src/store/open';
import type { NewEvent, NewQuarantine, Store, StoredEvent } from '../../../src/store/types';
import {
  APP_TOKEN,
  chatBotMessage,
  CRM_DEAL_ADD,
  everyShape,
  TASK_ADD,
  WEBHOOK_TOKEN,
  withoutToken,
} from '../../support/bitrix-bodies';
import { type Adapter, cleanUpStores } from '../../support/store-adapters';

const CHILD = path.resolve(__dirname, 'store-child.js');
export const ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const BOT_TOKEN = 'b0770ken0000000000000000000000aa';
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const DAY = 24 * 60 * 60 * 1000;
const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');

after(cleanUpStores);

export function accepted(overrides: Partial<NewEvent> = {}): NewEvent {
  return {
    receivedAt: new Date(T0),
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    webhook: 'default',
    event: 'ONCRMDEALADD',
    eventHandlerId: '975',
    ts: '1766047124',
    domain: 'some-domain.bitrix24.com',
    memberId: 'd897063e1ce7c5eb9f04b9751eef5915',
    data: { FIELDS: { ID: '7405' } },
    rawBody: CRM_DEAL_ADD,
    contentType: 'application/x-www-form-urlencoded',
    ...overrides,
  };
}

export function refused(overrides: Partial<NewQuarantine> = {}): NewQuarantine {
  return {
    receivedAt: new Date(T0),
    status: 503,
    reason: 'not_configured',
    diagnosis: 'no_token_configured',
    traceId: '0af7651916cd43dd8448eb211c80319c',
    event: 'ONCRMDEALADD',
    eventHandlerId: '975',
    ts: '1766047124',
    domain: 'some-domain.bitrix24.com',
    memberId: 'd897063e1ce7c5eb9f04b9751eef5915',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    rawBody: CRM_DEAL_ADD,
    candidates: [],
    ...overrides,
  };
}

const SCRUBBED_DEAL = CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, 'REDACTED');

function expectedEvent(id: string, overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id,
    receivedAt: new Date(T0),
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    webhook: 'default',
    event: 'ONCRMDEALADD',
    eventHandlerId: '975',
    ts: '1766047124',
    domain: 'some-domain.bitrix24.com',
    memberId: 'd897063e1ce7c5eb9f04b9751eef5915',
    data: { FIELDS: { ID: '7405' } },
    body: SCRUBBED_DEAL,
    contentType: 'application/x-www-form-urlencoded',
    status: 'pending',
    attempts: 0,
    nextAttemptAt: new Date(T0),
    leaseOwner: null,
    leaseUntil: null,
    lastError: null,
    deliveredAt: null,
    quarantineId: null,
    ...overrides,
  };
}

/** Runs the child script; resolves with its stdout lines once it exits, plus the signal that ended it. */
function child(args: string[]): {
  lines: AsyncIterableIterator<string>;
  send(line: string): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
} {
  const process_ = spawn(process.execPath, [CHILD, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  process_.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    process_.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return {
    lines: readline.createInterface({ input: process_.stdout })[Symbol.asyncIterator](),
    send: (line) => process_.stdin.write(`${line}\n`),
    exited,
  };
}

async function nextLine(
  lines: AsyncIterableIterator<string>,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>,
): Promise<string> {
  const next = await Promise.race([lines.next(), exited.then(() => ({ done: true as const, value: undefined }))]);
  if (next.done) {
    // Its stdout may close before the exit is seen: wait for the exit, so the message shows the child's error.
    const { code, signal, stderr } = await exited;
    throw new Error(
      `the child exited early (code ${code}, signal ${signal}): ${stderr.trim() || '(nothing on stderr)'}`,
    );
  }
  return next.value;
}

/** The store contract against one adapter: SQLite in test/store/store.test.ts (fast tier), PostgreSQL in test/process/store-postgres.test.ts. */
export function describeStore(adapter: Adapter): void {
  describe(`store (${adapter.name})`, function () {
    this.timeout(60_000);
    let config: StoreConfig;
    let store: Store;
    const extra: Store[] = [];

    async function another(): Promise<Store> {
      const opened = await openStore(config, { bodyLimitBytes: 256 * 1024 });
      extra.push(opened);
      return opened;
    }

    async function fresh(env: Record<string, string> = {}, bodyLimitBytes = 256 * 1024): Promise<void> {
      await store?.close();
      config = await adapter.freshConfig(env);
      store = await openStore(config, { bodyLimitBytes });
    }

    beforeEach(async () => {
      await fresh();
    });

    afterEach(async () => {
      for (const opened of extra.splice(0)) await opened.close();
      await store.close();
    });

    it(`reports its kind as ${adapter.name} and starts empty`, async () => {
      expect(store.kind).to.equal(adapter.name);
      expect(await store.listEvents()).to.deep.equal([]);
      expect(await store.quarantineSize()).to.equal(0);
    });

    it('keeps an accepted event exactly, with every secret stripped from data and body', async () => {
      const body = chatBotMessage();
      const data = {
        BOT: {
          567: {
            access_token: 'x1y2z3',
            BOT_ID: '567',
            AUTH: { domain: 'some-domain.bitrix24.com', application_token: BOT_TOKEN },
          },
        },
        PARAMS: { MESSAGE: 'Добрый день!' },
      };
      const id = await store.saveAccepted(
        accepted({ webhook: 'bots', event: 'ONIMBOTMESSAGEADD', eventHandlerId: undefined, data, rawBody: body }),
      );
      expect(id).to.match(ID);
      const expected = expectedEvent(id, {
        webhook: 'bots',
        event: 'ONIMBOTMESSAGEADD',
        eventHandlerId: undefined,
        // Scrubbed as a structure: the credential keys are gone, the rest is as it came.
        data: {
          BOT: { 567: { BOT_ID: '567', AUTH: { domain: 'some-domain.bitrix24.com' } } },
          PARAMS: { MESSAGE: 'Добрый день!' },
        },
        body: body
          .replace(
            'data%5BBOT%5D%5B567%5D%5Baccess_token%5D=x1y2z3',
            'data%5BBOT%5D%5B567%5D%5Baccess_token%5D=REDACTED',
          )
          .replace(`%5Bapplication_token%5D=${BOT_TOKEN}`, '%5Bapplication_token%5D=REDACTED')
          .replace('auth%5Baccess_token%5D=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'auth%5Baccess_token%5D=REDACTED')
          .replace(`auth%5Bapplication_token%5D=${APP_TOKEN}`, 'auth%5Bapplication_token%5D=REDACTED'),
      });
      expect(await store.getEvent(id)).to.deep.equal(expected);
      expect(await store.listEvents()).to.deep.equal([expected]);
      expect(await store.getEvent('01ZZZZZZZZZZZZZZZZZZZZZZZZ')).to.equal(undefined);
    });

    it('gives increasing ids in the order events were kept', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await store.saveAccepted(accepted()));
      expect((await store.listEvents()).map((event) => event.id)).to.deep.equal(ids);
      expect([...ids].sort()).to.deep.equal(ids);
      expect(new Set(ids).size).to.equal(20);
    });

    it('keeps a quarantined delivery: header names, harmless values only, scrubbed body, candidate digests', async () => {
      const id = await store.quarantine(
        refused({
          status: 403,
          reason: 'token_mismatch',
          diagnosis: 'token_rotated',
          headers: {
            'Content-Type': 'application/x-www-form-urlencoded',
            'content-length': '604',
            'user-agent': 'Bitrix24 Webhook Engine',
            authorization: `Bearer ${APP_TOKEN}`,
            'x-bitrix24-token': APP_TOKEN,
            cookie: 'session=abc',
            'x-forwarded-for': '203.0.113.7',
            'x-absent': undefined,
          },
          rawBody: TASK_ADD,
          candidates: [
            { source: 'header', location: 'header x-bitrix24-token', digest: digest(APP_TOKEN) },
            { source: 'query', location: 'query token', digest: digest('q') },
          ],
        }),
      );
      expect(id).to.match(ID);
      const expected = {
        id,
        receivedAt: new Date(T0),
        status: 403,
        reason: 'token_mismatch',
        diagnosis: 'token_rotated',
        traceId: '0af7651916cd43dd8448eb211c80319c',
        event: 'ONCRMDEALADD',
        eventHandlerId: '975',
        ts: '1766047124',
        domain: 'some-domain.bitrix24.com',
        memberId: 'd897063e1ce7c5eb9f04b9751eef5915',
        headerNames: [
          'content-type',
          'content-length',
          'user-agent',
          'authorization',
          'x-bitrix24-token',
          'cookie',
          'x-forwarded-for',
        ],
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': '604',
          'user-agent': 'Bitrix24 Webhook Engine',
        },
        body: TASK_ADD.replace('s6p6eclrvim6da22ft9ch94ekreb52lv', 'REDACTED')
          .replace('4s386p3q0tr8dy89xvmt96234v3dljg8', 'REDACTED')
          .replace(APP_TOKEN, 'REDACTED'),
        bodyTruncated: false,
        candidates: [
          { source: 'body', location: 'raw body auth[application_token]', digest: digest(APP_TOKEN) },
          { source: 'header', location: 'header x-bitrix24-token', digest: digest(APP_TOKEN) },
          { source: 'query', location: 'query token', digest: digest('q') },
        ],
        releasedAt: null,
        releasedEventId: null,
        releaseNote: null,
      };
      expect(await store.getQuarantined(id)).to.deep.equal(expected);
      expect(await store.listQuarantine()).to.deep.equal([expected]);
      expect(await store.quarantineSize()).to.equal(1);
    });

    it('keeps a quarantined delivery without a body as null, and cuts a long body at BODY_LIMIT without splitting a character', async () => {
      await fresh({}, 41);
      const none = await store.quarantine(
        refused({
          rawBody: undefined,
          diagnosis: undefined,
          traceId: undefined,
          event: undefined,
          eventHandlerId: undefined,
          ts: undefined,
          domain: undefined,
          memberId: undefined,
          headers: {},
        }),
      );
      expect(await store.getQuarantined(none)).to.deep.include({
        body: null,
        bodyTruncated: false,
        candidates: [],
        diagnosis: null,
        traceId: null,
        event: undefined,
        domain: undefined,
        headerNames: [],
        headers: {},
      });
      const long = await store.quarantine(
        refused({ reason: 'unsupported_media_type', status: 415, rawBody: `x=${'Ж'.repeat(30)}` }),
      );
      expect(await store.getQuarantined(long)).to.deep.include({ body: `x=${'Ж'.repeat(19)}`, bodyTruncated: true });
      const exact = await store.quarantine(refused({ rawBody: `x=${'Ж'.repeat(19)}` }));
      expect(await store.getQuarantined(exact)).to.deep.include({ body: `x=${'Ж'.repeat(19)}`, bodyTruncated: false });
    });

    it('filters the quarantine by reason, diagnosis, portal, time range, released, page', async () => {
      const a = await store.quarantine(
        refused({ receivedAt: new Date(T0), reason: 'token_missing', status: 401, diagnosis: 'no_token_sent' }),
      );
      const b = await store.quarantine(refused({ receivedAt: new Date(T0 + 1000), domain: 'other.bitrix24.ru' }));
      const c = await store.quarantine(refused({ receivedAt: new Date(T0 + 2000), diagnosis: 'variable_unset' }));
      const d = await store.quarantine(
        refused({ receivedAt: new Date(T0 + 3000), reason: 'token_mismatch', status: 403, diagnosis: 'token_rotated' }),
      );
      await store.release(
        c,
        {
          webhook: 'default',
          event: 'ONCRMDEALADD',
          eventHandlerId: '975',
          ts: undefined,
          domain: undefined,
          memberId: undefined,
          data: {},
        },
        new Date(T0 + 5000),
      );
      const ids = async (filter: Parameters<Store['listQuarantine']>[0]) =>
        (await store.listQuarantine(filter)).map((row) => row.id);
      expect(await ids({})).to.deep.equal([a, b, c, d]);
      expect(await ids({ reason: 'not_configured' })).to.deep.equal([b, c]);
      expect(await ids({ diagnosis: 'token_rotated' })).to.deep.equal([d]);
      expect(await ids({ portal: 'other.bitrix24.ru' })).to.deep.equal([b]);
      expect(await ids({ from: new Date(T0 + 1000), to: new Date(T0 + 3000) })).to.deep.equal([b, c]);
      expect(await ids({ released: true })).to.deep.equal([c]);
      expect(await ids({ released: false })).to.deep.equal([a, b, d]);
      expect(await ids({ limit: 2 })).to.deep.equal([a, b]);
      expect(await ids({ afterId: b, limit: 1 })).to.deep.equal([c]);
      expect(await ids({ reason: 'not_configured', released: false })).to.deep.equal([b]);
      expect(await ids({ reason: 'payload_too_large' })).to.deep.equal([]);
    });

    it('purges the quarantine with the same filters and reports how many rows went', async () => {
      const a = await store.quarantine(refused({ reason: 'token_missing', status: 401 }));
      await store.quarantine(refused({ receivedAt: new Date(T0 + 1000) }));
      const c = await store.quarantine(refused({ receivedAt: new Date(T0 + 2000), domain: 'other.bitrix24.ru' }));
      expect(await store.purgeQuarantine({ reason: 'not_configured', portal: 'some-domain.bitrix24.com' })).to.equal(1);
      expect((await store.listQuarantine()).map((row) => row.id)).to.deep.equal([a, c]);
      expect(await store.purgeQuarantine({ reason: 'token_mismatch' })).to.equal(0);
      expect(await store.purgeQuarantine()).to.equal(2);
      expect(await store.quarantineSize()).to.equal(0);
    });

    it('filters events by status, webhook, portal, event and time', async () => {
      const a = await store.saveAccepted(accepted());
      const b = await store.saveAccepted(
        accepted({ webhook: 'tasks', event: 'ONTASKADD', receivedAt: new Date(T0 + 1000) }),
      );
      const c = await store.saveAccepted(accepted({ domain: 'other.bitrix24.ru', receivedAt: new Date(T0 + 2000) }));
      const [claimed] = await store.claimDue('w', 60_000, 1, new Date(T0 + 5000));
      expect(claimed!.id).to.equal(a);
      expect(await store.recordAttempt(a, 'w', { result: 'delivered' }, new Date(T0 + 6000))).to.equal(true);
      const ids = async (filter: Parameters<Store['listEvents']>[0]) =>
        (await store.listEvents(filter)).map((row) => row.id);
      expect(await ids({ status: 'delivered' })).to.deep.equal([a]);
      expect(await ids({ status: 'pending' })).to.deep.equal([b, c]);
      expect(await ids({ status: 'dead' })).to.deep.equal([]);
      expect(await ids({ webhook: 'tasks' })).to.deep.equal([b]);
      expect(await ids({ event: 'ONCRMDEALADD' })).to.deep.equal([a, c]);
      expect(await ids({ portal: 'other.bitrix24.ru' })).to.deep.equal([c]);
      expect(await ids({ from: new Date(T0 + 1000) })).to.deep.equal([b, c]);
      expect(await ids({ to: new Date(T0 + 1000) })).to.deep.equal([a]);
    });

    it('releases a quarantined delivery into an event once, with its original time, trace and scrubbed body', async () => {
      const qid = await store.quarantine(refused({ headers: { 'content-type': 'application/x-www-form-urlencoded' } }));
      const releasedAt = new Date(T0 + DAY);
      const facts = {
        webhook: 'default',
        event: 'ONCRMDEALADD',
        eventHandlerId: '975',
        ts: '1766047124',
        domain: 'some-domain.bitrix24.com',
        memberId: 'd897063e1ce7c5eb9f04b9751eef5915',
        data: { FIELDS: { ID: '7405' } },
      };
      const first = await store.release(qid, facts, releasedAt);
      expect(first.result).to.equal('released');
      const eventId = (first as { eventId: string }).eventId;
      expect(eventId).to.match(ID);
      expect(await store.release(qid, facts, new Date(T0 + 2 * DAY))).to.deep.equal({
        result: 'already_released',
        eventId,
      });
      expect(await store.release('01ZZZZZZZZZZZZZZZZZZZZZZZZ', facts)).to.deep.equal({ result: 'not_found' });
      expect(await store.listEvents()).to.deep.equal([
        expectedEvent(eventId, {
          traceId: '0af7651916cd43dd8448eb211c80319c',
          nextAttemptAt: releasedAt,
          quarantineId: qid,
        }),
      ]);
      expect(await store.getQuarantined(qid)).to.deep.include({
        releasedAt,
        releasedEventId: eventId,
        releaseNote: null,
      });
    });

    it('keeps the operator note of a hand release', async () => {
      const qid = await store.quarantine(
        refused({ reason: 'token_missing', status: 401, rawBody: withoutToken(CRM_DEAL_ADD) }),
      );
      const result = await store.release(
        qid,
        {
          webhook: 'default',
          event: 'ONCRMDEALADD',
          eventHandlerId: '975',
          ts: undefined,
          domain: undefined,
          memberId: undefined,
          data: {},
          note: 'portal confirmed by phone',
        },
        new Date(T0 + 1),
      );
      expect(await store.getQuarantined(qid)).to.deep.include({
        releasedEventId: (result as { eventId: string }).eventId,
        releaseNote: 'portal confirmed by phone',
      });
    });

    it('releases exactly once when two processes replay the same delivery at the same moment', async () => {
      const qids: string[] = [];
      for (let i = 0; i < 3; i++) qids.push(await store.quarantine(refused({ receivedAt: new Date(T0 + i) })));
      // Two processes per delivery, all six started first, then told to go at once.
      const pairs = qids.map(
        (qid) =>
          [child(['release', JSON.stringify(config), qid]), child(['release', JSON.stringify(config), qid])] as const,
      );
      for (const c of pairs.flat()) expect(await nextLine(c.lines, c.exited)).to.equal('ready');
      for (const c of pairs.flat()) c.send('go');
      for (const [index, pair] of pairs.entries()) {
        const results = await Promise.all(
          pair.map(async (c) => JSON.parse(await nextLine(c.lines, c.exited)) as { result: string; eventId: string }),
        );
        for (const c of pair) expect((await c.exited).code).to.equal(0);
        expect(results.map((r) => r.result).sort()).to.deep.equal(['already_released', 'released']);
        expect(results[0]!.eventId).to.equal(results[1]!.eventId);
        const events = (await store.listEvents()).filter((event) => event.quarantineId === qids[index]);
        expect(events.map((event) => event.id)).to.deep.equal([results[0]!.eventId]);
      }
      expect((await store.listEvents()).length).to.equal(3);
    });

    it('lets three processes open and migrate a fresh store at the same moment', async () => {
      const freshConfig = await adapter.freshConfig();
      const children = [1, 2, 3].map(() => child(['open', JSON.stringify(freshConfig)]));
      for (const c of children) expect(await nextLine(c.lines, c.exited)).to.equal('ready');
      for (const c of children) c.send('go');
      for (const c of children) expect(await nextLine(c.lines, c.exited)).to.equal('[]');
      for (const c of children) expect((await c.exited).code).to.equal(0);
    });

    it('claims due events for two concurrent owners without ever giving both the same event', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) ids.push(await store.saveAccepted(accepted({ receivedAt: new Date(T0 + i) })));
      const other = await another();
      const now = new Date(T0 + 60_000);
      const claimedBy = async (owner: string, from: Store) => {
        const mine: StoredEvent[] = [];
        for (let round = 0; round < 40; round++) {
          const batch = await from.claimDue(owner, 60_000, 3, now);
          if (batch.length === 0) break;
          mine.push(...batch);
        }
        return mine;
      };
      const [a, b] = await Promise.all([claimedBy('a', store), claimedBy('b', other)]);
      const all = [...a, ...b].map((event) => event.id);
      expect(new Set(all).size).to.equal(all.length);
      expect([...all].sort()).to.deep.equal(ids);
      for (const event of a)
        expect(event).to.deep.include({ leaseOwner: 'a', leaseUntil: new Date(T0 + 120_000), status: 'pending' });
      for (const event of b)
        expect(event).to.deep.include({ leaseOwner: 'b', leaseUntil: new Date(T0 + 120_000), status: 'pending' });
      expect(await store.claimDue('c', 60_000, 100, now)).to.deep.equal([]);
    });

    it('claims the oldest due events first, and none that is not yet due', async () => {
      const first = await store.saveAccepted(accepted({ receivedAt: new Date(T0) }));
      const second = await store.saveAccepted(accepted({ receivedAt: new Date(T0 + 10) }));
      const later = await store.saveAccepted(accepted({ receivedAt: new Date(T0 + 1000) }));
      expect((await store.claimDue('a', 500, 10, new Date(T0 + 999))).map((event) => event.id)).to.deep.equal([
        first,
        second,
      ]);
      expect((await store.claimDue('a', 500, 10, new Date(T0 + 1000))).map((event) => event.id)).to.deep.equal([later]);
    });

    it('gives an event to another owner only once its lease has expired; the old owner can no longer record', async () => {
      const id = await store.saveAccepted(accepted());
      expect((await store.claimDue('a', 1000, 5, new Date(T0))).map((event) => event.id)).to.deep.equal([id]);
      expect(await store.claimDue('b', 1000, 5, new Date(T0 + 999))).to.deep.equal([]);
      const [taken] = await store.claimDue('b', 1000, 5, new Date(T0 + 1000));
      // Counted at each claim: a's lease ran out without a result, which counts as an attempt.
      expect(taken).to.deep.equal(expectedEvent(id, { attempts: 2, leaseOwner: 'b', leaseUntil: new Date(T0 + 2000) }));
      expect(await store.recordAttempt(id, 'a', { result: 'delivered' }, new Date(T0 + 1001))).to.equal(false);
      expect(await store.recordAttempt(id, 'b', { result: 'delivered' }, new Date(T0 + 1002))).to.equal(true);
      expect(await store.getEvent(id)).to.deep.equal(
        expectedEvent(id, { status: 'delivered', attempts: 2, deliveredAt: new Date(T0 + 1002) }),
      );
      expect(await store.recordAttempt(id, 'b', { result: 'delivered' }, new Date(T0 + 1003))).to.equal(false);
    });

    it('records a retry (due again later, error kept) and a dead letter', async () => {
      const id = await store.saveAccepted(accepted());
      await store.claimDue('a', 1000, 1, new Date(T0));
      expect(
        await store.recordAttempt(
          id,
          'a',
          { result: 'retry', error: 'HTTP 503', nextAttemptAt: new Date(T0 + 30_000) },
          new Date(T0 + 10),
        ),
      ).to.equal(true);
      expect(await store.getEvent(id)).to.deep.equal(
        expectedEvent(id, { attempts: 1, nextAttemptAt: new Date(T0 + 30_000), lastError: 'HTTP 503' }),
      );
      expect(await store.claimDue('a', 1000, 1, new Date(T0 + 29_999))).to.deep.equal([]);
      expect((await store.claimDue('a', 1000, 1, new Date(T0 + 30_000))).length).to.equal(1);
      expect(await store.recordAttempt(id, 'a', { result: 'dead', error: 'HTTP 410' }, new Date(T0 + 30_010))).to.equal(
        true,
      );
      expect(await store.getEvent(id)).to.deep.equal(
        expectedEvent(id, { status: 'dead', attempts: 2, nextAttemptAt: new Date(T0 + 30_000), lastError: 'HTTP 410' }),
      );
      expect(await store.claimDue('a', 1000, 1, new Date(T0 + DAY))).to.deep.equal([]);
    });

    it('counts an attempt at the claim; a send stopped by the shutdown takes it back and is due at once', async () => {
      const id = await store.saveAccepted(accepted());
      const [claimed] = await store.claimDue('a', 60_000, 1, new Date(T0));
      expect(claimed!.attempts).to.equal(1);
      expect(await store.recordAttempt(id, 'a', { result: 'aborted' }, new Date(T0 + 10))).to.equal(true);
      expect(await store.getEvent(id)).to.deep.equal(expectedEvent(id));
      expect(
        (await store.claimDue('b', 60_000, 1, new Date(T0 + 20))).map((event) => [event.id, event.attempts]),
      ).to.deep.equal([[id, 1]]);
    });

    it('expires quarantine after 30 days and delivered events after 7; pending and dead events stay', async () => {
      const now = new Date(T0 + 40 * DAY);
      const oldQ = await store.quarantine(refused({ receivedAt: new Date(now.getTime() - 30 * DAY - 1) }));
      const edgeQ = await store.quarantine(refused({ receivedAt: new Date(now.getTime() - 30 * DAY) }));
      const oldDelivered = await store.saveAccepted(accepted({ receivedAt: new Date(now.getTime() - 7 * DAY - 1) }));
      const oldPending = await store.saveAccepted(accepted({ receivedAt: new Date(now.getTime() - 20 * DAY) }));
      const oldDead = await store.saveAccepted(accepted({ receivedAt: new Date(now.getTime() - 20 * DAY) }));
      const newDelivered = await store.saveAccepted(accepted({ receivedAt: new Date(now.getTime() - 7 * DAY) }));
      const claimed = await store.claimDue('w', 1000, 10, now);
      expect(claimed.map((event) => event.id).sort()).to.deep.equal(
        [oldDelivered, oldPending, oldDead, newDelivered].sort(),
      );
      expect(await store.recordAttempt(oldDelivered, 'w', { result: 'delivered' }, now)).to.equal(true);
      expect(await store.recordAttempt(newDelivered, 'w', { result: 'delivered' }, now)).to.equal(true);
      expect(await store.recordAttempt(oldDead, 'w', { result: 'dead', error: 'HTTP 410' }, now)).to.equal(true);
      expect(
        await store.recordAttempt(
          oldPending,
          'w',
          { result: 'retry', error: 'HTTP 500', nextAttemptAt: new Date(now.getTime() + DAY) },
          now,
        ),
      ).to.equal(true);
      expect(await store.applyRetention(now)).to.deep.equal({
        quarantineExpired: 1,
        eventsExpired: 1,
        quarantineEvicted: 0,
        quarantinePlausibleEvicted: 0,
      });
      expect((await store.listQuarantine()).map((row) => row.id)).to.deep.equal([edgeQ]);
      expect((await store.listEvents()).map((event) => event.id).sort()).to.deep.equal(
        [oldPending, oldDead, newDelivered].sort(),
      );
      expect(oldQ).to.match(ID);
      expect(await store.applyRetention(now)).to.deep.equal({
        quarantineExpired: 0,
        eventsExpired: 0,
        quarantineEvicted: 0,
        quarantinePlausibleEvicted: 0,
      });
    });

    it('reads the retention days and the quarantine cap from the environment', async () => {
      await fresh({ QUARANTINE_RETENTION_DAYS: '2', EVENT_RETENTION_DAYS: '1', QUARANTINE_MAX_ROWS: '1000' });
      const now = new Date(T0 + 10 * DAY);
      await store.quarantine(refused({ receivedAt: new Date(now.getTime() - 2 * DAY - 1) }));
      const kept = await store.quarantine(refused({ receivedAt: new Date(now.getTime() - 2 * DAY) }));
      expect(await store.applyRetention(now)).to.deep.equal({
        quarantineExpired: 1,
        eventsExpired: 0,
        quarantineEvicted: 0,
        quarantinePlausibleEvicted: 0,
      });
      expect((await store.listQuarantine()).map((row) => row.id)).to.deep.equal([kept]);
    });

    it('evicts the oldest quarantine rows beyond the cap and counts them', async () => {
      await fresh({ QUARANTINE_MAX_ROWS: '3' });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await store.quarantine(refused({ receivedAt: new Date(T0 + i * 1000) })));
      // The first write past the cap started an eviction of its own (at most one a second); the first call
      // may be that one still running, the second runs after it.
      await store.enforceQuarantineCap();
      await store.enforceQuarantineCap();
      expect((await store.listQuarantine()).map((row) => row.id)).to.deep.equal(ids.slice(2));
      expect(await store.quarantineSize()).to.equal(3);
      expect(await store.enforceQuarantineCap()).to.deep.equal({ evicted: 0, plausibleEvicted: 0 });
      ids.push(await store.quarantine(refused({ receivedAt: new Date(T0 + 9000) })));
      await store.applyRetention(new Date(T0 + 10_000));
      await store.enforceQuarantineCap();
      expect((await store.listQuarantine()).map((row) => row.id)).to.deep.equal(ids.slice(3));
    });

    it('holds no token anywhere in any table after a mixed run', async () => {
      const secrets = [
        WEBHOOK_TOKEN,
        APP_TOKEN,
        BOT_TOKEN,
        'x1y2z3',
        'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
        's6p6eclrvim6da22ft9ch94ekreb52lv',
        '4s386p3q0tr8dy89xvmt96234v3dljg8',
      ];
      for (const shape of everyShape()) {
        await store.saveAccepted(
          accepted({
            rawBody: shape.body,
            event: shape.event,
            data: Object.fromEntries(new URLSearchParams(shape.body)),
          }),
        );
        await store.quarantine(
          refused({
            rawBody: shape.body,
            headers: { authorization: `Bearer ${shape.token}`, 'x-bitrix24-token': shape.token, cookie: shape.token },
            candidates: [{ source: 'header', location: 'header x-bitrix24-token', digest: digest(shape.token) }],
          }),
        );
        await store.quarantine(
          refused({
            rawBody: JSON.stringify({
              auth: { application_token: shape.token, access_token: 'x1y2z3' },
              data: { nested: [{ refresh_token: shape.token }] },
            }),
          }),
        );
      }
      const [first] = await store.listQuarantine({ limit: 1 });
      await store.release(first!.id, {
        webhook: 'default',
        event: 'ONCRMDEALADD',
        eventHandlerId: undefined,
        ts: undefined,
        domain: undefined,
        memberId: undefined,
        data: { auth: { application_token: WEBHOOK_TOKEN } },
      });
      const dump = JSON.stringify(await adapter.dumpTables(config));
      // The dump does hold the rows (so a token would be visible if it were there) ...
      expect(dump)
        .to.include('ONIMBOTMESSAGEADD')
        .and.include('Добрый день! Где мой заказ?')
        .and.include(digest(APP_TOKEN));
      // ... and none of the secrets.
      for (const secret of secrets)
        expect(dump.includes(secret), `${secret.slice(0, 4)}… found in the store`).to.equal(false);
    });

    if (adapter.name === 'postgres') {
      it('skips events another replica holds locked instead of waiting for them (FOR UPDATE SKIP LOCKED)', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 4; i++) ids.push(await store.saveAccepted(accepted({ receivedAt: new Date(T0 + i) })));
        const replica = new Client({ connectionString: (config as { url: string }).url });
        await replica.connect();
        try {
          await replica.query('BEGIN');
          await replica.query('SELECT id FROM events WHERE id = $1 FOR UPDATE', [ids[0]]);
          let timer: NodeJS.Timeout | undefined;
          const blocked = new Promise<'blocked'>((resolve) => (timer = setTimeout(() => resolve('blocked'), 5000)));
          const claimed = await Promise.race([store.claimDue('b', 60_000, 10, new Date(T0 + 1000)), blocked]);
          clearTimeout(timer);
          expect(claimed === 'blocked' ? claimed : claimed.map((event) => event.id)).to.deep.equal(ids.slice(1));
        } finally {
          await replica.query('ROLLBACK');
          await replica.end();
        }
        expect((await store.claimDue('c', 60_000, 10, new Date(T0 + 1000))).map((event) => event.id)).to.deep.equal([
          ids[0],
        ]);
      });
    }

    if (adapter.name === 'sqlite') {
      it('keeps an accepted event through kill -9 of the process right after the write resolved (WAL, synchronous=NORMAL)', async () => {
        const c = child(['save', JSON.stringify(config), String(T0)]);
        const id = await nextLine(c.lines, c.exited);
        expect(await c.exited).to.deep.include({ code: null, signal: 'SIGKILL' });
        expect(id).to.match(ID);
        const reopened = await another();
        expect(await reopened.getEvent(id)).to.deep.equal(
          expectedEvent(id, {
            memberId: 'd897063e1ce7c5eb9f04b9751eef5915',
            body: 'event=ONCRMDEALADD&auth%5Bapplication_token%5D=REDACTED',
          }),
        );
      });
    }
  });
}
