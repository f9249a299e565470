// The baseline for the benchmark: a bare Koa app that does the same work the service must do on the hot
// path (form/JSON parsing with koa-bodyparser and the same qs options, the token check with SHA-256
// digests + crypto.timingSafeEqual, the same JSON answers, and the same store write: every accepted delivery is
// committed to the service's own store (openStore: SQLite, WAL, in DATA_DIR) before the 200, every token refusal
// is quarantined) and nothing else: no telemetry, no logs.
// Run as its own process: `node dist/scripts/bench/bare-koa.js` with PORT, HOST, BITRIX24_OUTGOING_WEBHOOK_TOKEN,
// DATA_DIR (the bench gives each process a fresh temporary one).
// Prints one JSON line {"message":"listening","url":...,"port":...} when ready.

import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import { openStore, parseStoreConfig, type EventFacts, type Store } from '../../src/store';

const token = process.env.BITRIX24_OUTGOING_WEBHOOK_TOKEN ?? '';
const webhookPath = process.env.WEBHOOK_PATH ?? '/api/bitrix/webhook';
const expected = crypto.createHash('sha256').update(token).digest();

interface HttpError extends Error { status?: number; statusCode?: number }

const BODY_LIMIT = 256 * 1024;

async function main(): Promise<void> {
  const store = await openStore(parseStoreConfig({ DATA_DIR: process.env.DATA_DIR }), { bodyLimitBytes: BODY_LIMIT });

  const app = new Koa();
  app.use(async (ctx, next) => {
    if (ctx.method !== 'POST' || ctx.path !== webhookPath) {
      ctx.status = 404;
      return;
    }
    await next();
  });
  app.use(bodyParser({
    enableTypes: ['json', 'form'],
    formLimit: '256kb',
    jsonLimit: '256kb',
    queryString: { depth: 10, parameterLimit: 1000, throwOnLimitExceeded: true, parseArrays: false, plainObjects: true, allowDots: false },
    onProtoPoisoning: 'remove',
    onerror: (err: HttpError, ctx: Koa.Context) => {
      const status = err.status ?? err.statusCode ?? 400;
      const reason = status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'malformed_body';
      ctx.throw(status === 413 || status === 415 ? status : 400, JSON.stringify({ status: 'rejected', reason }));
    },
  } as bodyParser.Options));
  app.use(async (ctx) => {
    if (!ctx.is('application/x-www-form-urlencoded', 'json')) {
      ctx.status = 415;
      ctx.body = { status: 'rejected', reason: 'unsupported_media_type' };
      return;
    }
    const body = ctx.request.body as Record<string, unknown> | undefined;
    const auth = body?.auth as Record<string, unknown> | undefined;
    const received = auth && typeof auth === 'object' ? auth.application_token : undefined;
    const rawBody = (ctx.request as { rawBody?: string }).rawBody;
    if (typeof received !== 'string' || received === '') {
      await quarantine(store, ctx, body, rawBody, 401, 'token_missing');
      ctx.status = 401;
      ctx.body = { status: 'rejected', reason: 'token_missing' };
      return;
    }
    const digest = crypto.createHash('sha256').update(received).digest();
    if (!crypto.timingSafeEqual(digest, expected)) {
      await quarantine(store, ctx, body, rawBody, 403, 'token_mismatch');
      ctx.status = 403;
      ctx.body = { status: 'rejected', reason: 'token_mismatch' };
      return;
    }
    await store.saveAccepted({
      ...facts(body),
      receivedAt: new Date(),
      traceId: undefined,
      webhook: 'default',
      data: body?.data,
      rawBody,
      contentType: ctx.get('content-type') || undefined,
    });
    ctx.body = { status: 'accepted' };
  });
  app.on('error', () => { /* bare: no logs */ });

  const server = app.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(JSON.stringify({ message: 'listening', url: `http://127.0.0.1:${port}`, port }) + '\n');
  });
  // The same server timeouts as the service, so the comparison is like for like.
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  process.on('SIGTERM', () => server.close(() => void store.close().then(() => process.exit(0))));
}

async function quarantine(store: Store, ctx: Koa.Context, body: Record<string, unknown> | undefined, rawBody: string | undefined, status: number, reason: string): Promise<void> {
  await store.quarantine({
    ...facts(body), receivedAt: new Date(), status, reason, diagnosis: undefined, traceId: undefined,
    headers: ctx.req.headers, rawBody, candidates: [],
  });
}

function facts(body: Record<string, unknown> | undefined): EventFacts {
  const auth = body?.auth as Record<string, unknown> | undefined;
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return { event: text(body?.event), eventHandlerId: text(body?.event_handler_id), ts: text(body?.ts), domain: text(auth?.domain), memberId: text(auth?.member_id) };
}

main().catch((error: unknown) => {
  process.stderr.write(`bare koa failed to start: ${String(error)}\n`);
  process.exit(1);
});
