// The baseline for the benchmark: a bare Koa app that does the same work the service must do on the hot
// path (form/JSON parsing with koa-bodyparser and the same qs options, the token check with SHA-256
// digests + crypto.timingSafeEqual, the same JSON answers) and nothing else: no telemetry, no logs. With
// BENCH_PEER_STORE=1 it commits each accepted event before the 200 the way a user would: ONE prepared INSERT
// (prepared at start, reused) into its own SQLite file in DATA_DIR, WAL, synchronous=NORMAL, through the
// driver-neutral handle (node:sqlite on Node 24, better-sqlite3 on Node 20). Not the service's store: the bench
// asks whether the service is faster than what a user would write. Refusals are answered, not kept.
// Run as its own process: `node dist/scripts/bench/bare-koa.js` with PORT, HOST, BITRIX24_OUTGOING_WEBHOOK_TOKEN,
// DATA_DIR (the bench gives each process a fresh temporary one), BENCH_PEER_STORE (1 or 0).
// Prints one JSON line {"message":"listening","url":...,"port":...} when ready.

import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import { openSqliteDatabase } from '../../src/store/sqlite-driver';

const token = process.env.BITRIX24_OUTGOING_WEBHOOK_TOKEN ?? '';
const webhookPath = process.env.WEBHOOK_PATH ?? '/api/bitrix/webhook';
const expected = crypto.createHash('sha256').update(token).digest();

interface HttpError extends Error {
  status?: number;
  statusCode?: number;
}

/** What a user's handler would keep of an accepted event: one row, one prepared INSERT, committed before the 200. */
function openPeerStore(dataDir: string): { save(body: Record<string, unknown> | undefined): void; close(): void } {
  const database = openSqliteDatabase(path.join(dataDir, 'peer.sqlite'));
  database.exec('PRAGMA journal_mode = WAL');
  database.exec('PRAGMA synchronous = NORMAL');
  database.exec(
    'CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, event TEXT, portal TEXT, member_id TEXT, data TEXT NOT NULL)',
  );
  const insert = database.prepare(
    'INSERT INTO events (received_at, event, portal, member_id, data) VALUES (?, ?, ?, ?, ?)',
  );
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  return {
    save(body) {
      const auth = body?.auth as Record<string, unknown> | undefined;
      insert.run([
        Date.now(),
        text(body?.event),
        text(auth?.domain),
        text(auth?.member_id),
        JSON.stringify(body?.data ?? null),
      ]);
    },
    close: () => database.close(),
  };
}

async function main(): Promise<void> {
  const store = process.env.BENCH_PEER_STORE === '1' ? openPeerStore(process.env.DATA_DIR ?? '.') : undefined;

  const app = new Koa();
  app.use(async (ctx, next) => {
    if (ctx.method !== 'POST' || ctx.path !== webhookPath) {
      ctx.status = 404;
      return;
    }
    await next();
  });
  app.use(
    bodyParser({
      enableTypes: ['json', 'form'],
      formLimit: '256kb',
      jsonLimit: '256kb',
      queryString: {
        depth: 10,
        parameterLimit: 1000,
        throwOnLimitExceeded: true,
        parseArrays: false,
        plainObjects: true,
        allowDots: false,
      },
      onProtoPoisoning: 'remove',
      onerror: (err: HttpError, ctx: Koa.Context) => {
        const status = err.status ?? err.statusCode ?? 400;
        const reason =
          status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'malformed_body';
        ctx.throw(status === 413 || status === 415 ? status : 400, JSON.stringify({ status: 'rejected', reason }));
      },
    } as bodyParser.Options),
  );
  app.use(async (ctx) => {
    if (!ctx.is('application/x-www-form-urlencoded', 'json')) {
      ctx.status = 415;
      ctx.body = { status: 'rejected', reason: 'unsupported_media_type' };
      return;
    }
    const body = ctx.request.body as Record<string, unknown> | undefined;
    const auth = body?.auth as Record<string, unknown> | undefined;
    const received = auth && typeof auth === 'object' ? auth.application_token : undefined;
    if (typeof received !== 'string' || received === '') {
      ctx.status = 401;
      ctx.body = { status: 'rejected', reason: 'token_missing' };
      return;
    }
    const digest = crypto.createHash('sha256').update(received).digest();
    if (!crypto.timingSafeEqual(digest, expected)) {
      ctx.status = 403;
      ctx.body = { status: 'rejected', reason: 'token_mismatch' };
      return;
    }
    store?.save(body);
    ctx.body = { status: 'accepted' };
  });
  app.on('error', () => {
    /* bare: no logs */
  });

  const server = app.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(`${JSON.stringify({ message: 'listening', url: `http://127.0.0.1:${port}`, port })}\n`);
  });
  // The same server timeouts as the service, so the comparison is like for like.
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  process.on('SIGTERM', () =>
    server.close(() => {
      store?.close();
      process.exit(0);
    }),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`bare koa failed to start: ${String(error)}\n`);
  process.exit(1);
});
