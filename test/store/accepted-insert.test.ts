// The accepted-event write on the request path: one statement prepared when the store opens, reused for every
// delivery, writing exactly the row the Kysely query wrote before (column by column, as the database returns
// it). SQLite here (fast tier); PostgreSQL in test/process/accepted-insert-postgres.test.ts.
import { expect } from 'chai';
import { Kysely, SqliteDialect } from 'kysely';
import type { PoolClient } from 'pg';
import { sqliteEventInsert, type EventRow } from '../../src/store/event-insert';
import type { Database } from '../../src/store/schema';
import { openStore, type OpenOptions } from '../../src/store/open';
import { openSqliteDatabase, type SqliteFile } from '../../src/store/sqlite-driver';
import type { NewEvent, Store } from '../../src/store/types';
import { WEBHOOK_TOKEN } from '../support/bitrix-bodies';
import { openSqliteFile } from '../support/sqlite-file';
import { ADAPTERS, type Adapter } from '../support/store-adapters';

const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const BOT_SECRET = 'bot-access-token-0000000000000000';

/** Secrets in every shape the store must strip: by key at any depth and encoding, and the configured token anywhere. */
const HOSTILE: NewEvent = {
  receivedAt: new Date(T0),
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  webhook: 'default',
  event: 'ONIMBOTMESSAGEADD',
  eventHandlerId: '12',
  ts: `1766047124 ${WEBHOOK_TOKEN}`,
  domain: 'portal\u0000.bitrix24.com',
  memberId: 'd897063e1ce7c5eb9f04b9751eef5915',
  data: {
    BOT: { '567': { access_token: BOT_SECRET, AUTH: { Application_Token: BOT_SECRET, domain: 'd' } } },
    PARAMS: {
      MESSAGE: `note ${WEBHOOK_TOKEN} and \u0000 nul &access_token=kept`,
      LIST: ['a', 1, true, null, { refresh_token: 'r' }],
    },
    'auth%255Brefresh_token%255D': 'double-encoded',
    EMPTY: {},
  },
  rawBody: `event=ONIMBOTMESSAGEADD&data[PARAMS][MESSAGE]=hi\u0000there&data[BOT][567][access_token]=${BOT_SECRET}&auth[application_token]=${WEBHOOK_TOKEN}&auth[domain]=x`,
  contentType: 'application/x-www-form-urlencoded',
  selfTest: true,
};

const MINIMAL: NewEvent = {
  receivedAt: new Date(T0 + 1),
  traceId: undefined,
  webhook: 'second',
  event: undefined,
  eventHandlerId: undefined,
  ts: undefined,
  domain: undefined,
  memberId: undefined,
  data: undefined,
  rawBody: undefined,
  contentType: undefined,
};

/** Every column of the two rows, as the Kysely insert of main 4840b25 wrote them (numbers; PostgreSQL gives BIGINT as text). */
function expectedRows(engine: 'sqlite' | 'postgres', ids: [string, string]): Array<Record<string, unknown>> {
  const big = (value: number) => (engine === 'postgres' ? String(value) : value);
  return [
    {
      id: ids[0],
      received_at: big(T0),
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      webhook: 'default',
      event: 'ONIMBOTMESSAGEADD',
      event_handler_id: '12',
      ts: '1766047124 REDACTED',
      portal_domain: 'portal%00.bitrix24.com',
      member_id: 'd897063e1ce7c5eb9f04b9751eef5915',
      data: '{"BOT":{"567":{"AUTH":{"domain":"d"}}},"PARAMS":{"MESSAGE":"note REDACTED and \\u0000 nul &access_token=kept","LIST":["a",1,true,null,{}]},"EMPTY":{}}',
      body: 'event=ONIMBOTMESSAGEADD&data[PARAMS][MESSAGE]=hi%00there&data[BOT][567][access_token]=REDACTED&auth[application_token]=REDACTED&auth[domain]=x',
      content_type: 'application/x-www-form-urlencoded',
      status: 'pending',
      attempts: 0,
      next_attempt_at: big(T0),
      lease_owner: null,
      lease_until: null,
      last_error: null,
      delivered_at: null,
      quarantine_id: null,
      self_test: 1,
    },
    {
      id: ids[1],
      received_at: big(T0 + 1),
      trace_id: null,
      webhook: 'second',
      event: null,
      event_handler_id: null,
      ts: null,
      portal_domain: null,
      member_id: null,
      data: 'null',
      body: null,
      content_type: null,
      status: 'pending',
      attempts: 0,
      next_attempt_at: big(T0 + 1),
      lease_owner: null,
      lease_until: null,
      last_error: null,
      delivered_at: null,
      quarantine_id: null,
      self_test: 0,
    },
  ];
}

const INSERT_INTO_EVENTS = /^\s*insert\s+into\s+"?events"?/i;

export function describeAcceptedInsert(adapter: Adapter): void {
  describe(`accepted-event write (${adapter.name})`, function () {
    this.timeout(60_000);
    let store: Store | undefined;

    afterEach(async () => {
      await store?.close();
      store = undefined;
    });

    it('writes exactly the row the Kysely query wrote: every column, secrets stripped by structure and by value', async () => {
      const config = await adapter.freshConfig();
      store = await openStore(config, { bodyLimitBytes: 256 * 1024, secrets: [WEBHOOK_TOKEN] });
      const first = await store.saveAccepted(HOSTILE);
      const second = await store.saveAccepted(MINIMAL);
      expect(first).to.match(ID);
      expect(second).to.match(ID);
      const rows = ((await adapter.dumpTables(config)).events as Array<Record<string, unknown>>).map((row) => ({
        ...row,
      }));
      rows.sort((a, b) => String(a.id).localeCompare(String(b.id)));
      expect(rows).to.deep.equal(expectedRows(adapter.name, [first, second]));
      // Read back through the store: the same event the forwarder will send.
      expect((await store.getEvent(first))?.data).to.deep.equal({
        BOT: { '567': { AUTH: { domain: 'd' } } },
        PARAMS: { MESSAGE: 'note REDACTED and \u0000 nul &access_token=kept', LIST: ['a', 1, true, null, {}] },
        EMPTY: {},
      });
      // The caller's data is not changed by the scrub.
      expect((HOSTILE.data as { BOT: Record<string, { access_token?: string }> }).BOT['567']!.access_token).to.equal(
        BOT_SECRET,
      );
    });

    if (adapter.name === 'sqlite') {
      it('prepares the INSERT once, when the store opens, and reuses it for every delivery', async () => {
        const config = await adapter.freshConfig();
        const prepared: string[] = [];
        const counting = (file: string): SqliteFile => {
          const database = openSqliteDatabase(file);
          return {
            ...database,
            prepare: (sql) => {
              prepared.push(sql);
              return database.prepare(sql);
            },
          };
        };
        store = await openStore(config, {
          bodyLimitBytes: 256 * 1024,
          driver: { openSqlite: counting },
        } satisfies OpenOptions);
        const atOpen = prepared.filter((sql) => INSERT_INTO_EVENTS.test(sql)).length;
        // The first event of a portal also remembers the portal (once per process): same portal throughout.
        for (let i = 0; i < 25; i++) await store.saveAccepted({ ...HOSTILE, receivedAt: new Date(T0 + i) });
        const inserts = prepared.filter((sql) => INSERT_INTO_EVENTS.test(sql));
        expect(atOpen, 'prepared when the store opens').to.equal(1);
        expect(inserts, 'no statement prepared per delivery').to.have.length(1);
        expect(await store.countEvents()).to.equal(25);
      });

      it('commits the events of concurrent deliveries together (group commit), each answered only after the commit', async () => {
        const config = await adapter.freshConfig();
        const executed: string[] = [];
        const counting = (file: string): SqliteFile => {
          const database = openSqliteDatabase(file);
          return {
            ...database,
            exec: (sql) => {
              executed.push(sql);
              return database.exec(sql);
            },
          };
        };
        store = await openStore(config, {
          bodyLimitBytes: 256 * 1024,
          driver: { openSqlite: counting },
        } satisfies OpenOptions);
        const reader = openSqliteFile((config as { file: string }).file, { readonly: true });
        try {
          const visible = (id: string) =>
            (reader.prepare('SELECT count(*) AS n FROM events WHERE id = ?').get(id) as { n: number }).n;
          executed.length = 0;
          const seen = await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              store!.saveAccepted({ ...MINIMAL, receivedAt: new Date(T0 + i) }).then(visible),
            ),
          );
          expect(seen, 'each one committed when it resolved').to.deep.equal(seen.map(() => 1));
          expect(
            executed.filter((sql) => /^BEGIN/i.test(sql)),
            'one transaction for the 20',
          ).to.have.length(1);
          expect(executed.filter((sql) => /^COMMIT/i.test(sql))).to.have.length(1);
        } finally {
          reader.close();
        }
      });

      it('a row the database refuses fails alone: the other events of its batch are committed and answered', async () => {
        const config = await adapter.freshConfig();
        let file: SqliteFile | undefined;
        store = await openStore(config, {
          bodyLimitBytes: 256 * 1024,
          driver: { openSqlite: (path) => (file = openSqliteDatabase(path)) },
        } satisfies OpenOptions);
        // The same id twice in one batch: the primary key refuses the second (ids are unique in practice).
        const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: file! }) });
        const insert = sqliteEventInsert(file!, db);
        const row = (id: string): EventRow => ({
          id,
          received_at: T0,
          trace_id: null,
          webhook: 'default',
          event: null,
          event_handler_id: null,
          ts: null,
          portal_domain: null,
          member_id: null,
          data: 'null',
          body: null,
          content_type: null,
          status: 'pending',
          attempts: 0,
          next_attempt_at: T0,
          lease_owner: null,
          lease_until: null,
          last_error: null,
          delivered_at: null,
          quarantine_id: null,
          self_test: 0,
        });
        const results = await Promise.allSettled([
          insert(row('A')),
          insert(row('B')),
          insert(row('A')),
          insert(row('C')),
        ]);
        expect(results.map((result) => result.status)).to.deep.equal([
          'fulfilled',
          'fulfilled',
          'rejected',
          'fulfilled',
        ]);
        expect(String((results[2] as PromiseRejectedResult).reason)).to.match(/UNIQUE|constraint/i);
        expect((await store.listEvents()).map((event) => event.id)).to.deep.equal(['A', 'B', 'C']);
      });

      it('waits for a transaction in flight on the same connection instead of joining it (a released delivery and an accepted one at once)', async () => {
        const config = await adapter.freshConfig();
        store = await openStore(config, { bodyLimitBytes: 256 * 1024 });
        const quarantined = await store.quarantine({
          receivedAt: new Date(T0),
          status: 403,
          reason: 'token_mismatch',
          diagnosis: undefined,
          traceId: undefined,
          event: 'ONCRMDEALADD',
          eventHandlerId: undefined,
          ts: undefined,
          domain: undefined,
          memberId: undefined,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          rawBody: 'event=ONCRMDEALADD',
          candidates: [],
        });
        // release() holds a transaction across awaits; a save meanwhile must be committed when it resolves,
        // visible to another connection at once, not part of the release's transaction.
        const reader = openSqliteFile((config as { file: string }).file, { readonly: true });
        try {
          const visible = (id: string) =>
            (reader.prepare('SELECT count(*) AS n FROM events WHERE id = ?').get(id) as { n: number }).n;
          const releasing = store.release(quarantined, {
            webhook: 'default',
            event: 'ONCRMDEALADD',
            eventHandlerId: undefined,
            ts: undefined,
            domain: undefined,
            memberId: undefined,
            data: null,
          });
          const saves: Array<Promise<number>> = [];
          // Started a microtask apart: release's statements run between awaits of microtasks (the driver is
          // synchronous).
          for (let i = 0; i < 40; i++) {
            saves.push(store.saveAccepted({ ...MINIMAL, receivedAt: new Date(T0 + i) }).then(visible));
            await Promise.resolve();
          }
          const [released, ...seen] = await Promise.all([releasing, ...saves]);
          expect(released).to.include({ result: 'released' });
          expect(seen, 'each save committed when it resolved').to.deep.equal(saves.map(() => 1));
          expect(await store.countEvents()).to.equal(41);
        } finally {
          reader.close();
        }
      });
    }

    if (adapter.name === 'postgres') {
      it('uses one named prepared statement: parsed at most once per pooled connection, never per delivery', async () => {
        const config = await adapter.freshConfig();
        const parses: Array<{ text: string; name?: string }> = [];
        let connections = 0;
        const watch = (client: PoolClient) => {
          connections += 1;
          const connection = (
            client as unknown as { connection: { parse(query: { text: string; name?: string }): void } }
          ).connection;
          const parse = connection.parse.bind(connection);
          connection.parse = (query) => {
            parses.push(query);
            return parse(query);
          };
        };
        store = await openStore(config, {
          bodyLimitBytes: 256 * 1024,
          driver: { onPostgresConnection: watch },
        } satisfies OpenOptions);
        for (let i = 0; i < 25; i++) await store.saveAccepted({ ...HOSTILE, receivedAt: new Date(T0 + i) });
        await Promise.all(
          Array.from({ length: 25 }, (_, i) => store!.saveAccepted({ ...MINIMAL, receivedAt: new Date(T0 + 100 + i) })),
        );
        const inserts = parses.filter((query) => INSERT_INTO_EVENTS.test(query.text));
        expect(inserts.length, `${inserts.length} parses of the INSERT over ${connections} connections`).to.be.within(
          1,
          connections,
        );
        expect(new Set(inserts.map((query) => query.name)).size, 'one statement name').to.equal(1);
        expect(inserts[0]!.name).to.be.a('string').and.not.equal('');
        expect(await store.countEvents()).to.equal(50);
      });
    }
  });
}

describeAcceptedInsert(ADAPTERS.find((adapter) => adapter.name === 'sqlite')!);
