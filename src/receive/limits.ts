import type { IncomingMessage } from 'node:http';
import type { Writable } from 'node:stream';
import type { Context, Middleware } from 'koa';
import type { Config } from '../config/load';
import type { ServiceMetrics } from '../telemetry/metrics';
import { answerRejected } from './answers';
import { boundText } from '../telemetry/bound-text';
import { rateLimitedWarn } from './rate-limited-log';
import type { RefusalRecorder } from './refusal';

/** Seconds a client is asked to wait after `503 overloaded`. */
export const RETRY_AFTER_SECONDS = 5;
/** At most one warn line per this many ms for each kind of refusal here; the rest are counted in it. */
export const REFUSAL_LOG_INTERVAL_MS = 1000;

/**
 * Bytes that bodies being read or handled may hold at once. A plain body counts its Content-Length. A
 * compressed or chunked one counts BODY_LIMIT, since a few hundred gzip bytes may inflate to that; such
 * bodies together may hold at most half the budget, so a flood of them leaves room for plain deliveries
 * (Bitrix24 sends plain form bodies with a Content-Length).
 */
export function createBodyBudget(totalBytes: number, bodyLimitBytes: number) {
  const unsizedShare = Math.floor(totalBytes / 2);
  let held = 0;
  let unsizedHeld = 0;
  return {
    /** Reserves the body's worst case, or says no; the returned function gives it back (once). */
    reserve(declaredLength: number | undefined, encoded: boolean): (() => void) | undefined {
      const unsized = encoded || declaredLength === undefined;
      const cost = unsized ? bodyLimitBytes : Math.min(declaredLength, bodyLimitBytes);
      if (held + cost > totalBytes || (unsized && unsizedHeld + cost > unsizedShare)) return undefined;
      held += cost;
      if (unsized) unsizedHeld += cost;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        held -= cost;
        if (unsized) unsizedHeld -= cost;
      };
    },
    get heldBytes() {
      return held;
    },
  };
}

export type BodyBudget = ReturnType<typeof createBodyBudget>;

export interface BodyGuardDeps {
  config: Config;
  metrics: ServiceMetrics;
  refuse: RefusalRecorder;
  /** Shared with the wrong-path reader (app.ts), so both stay within BODY_MEMORY_LIMIT together. */
  budget?: BodyBudget;
}

/**
 * In front of the webhook handler: a body is read only within the body budget (else `503 overloaded`) and
 * only for BODY_TIMEOUT_SECONDS after the headers (else `408 request_timeout`). The handler's own work after
 * the body is in has no deadline here.
 */
export function guardBody({ config, metrics, refuse, budget = createBodyBudget(config.bodyMemoryLimitBytes, config.bodyLimitBytes) }: BodyGuardDeps): Middleware {
  const warnOverloaded = rateLimitedWarn(refuse.logger, REFUSAL_LOG_INTERVAL_MS);
  const warnTimeout = rateLimitedWarn(refuse.logger, REFUSAL_LOG_INTERVAL_MS);

  return async (ctx, next) => {
    if (!hasBody(ctx)) return next();
    const encoding = ctx.get('content-encoding').trim().toLowerCase();
    const release = budget.reserve(ctx.request.length, encoding !== '' && encoding !== 'identity');
    if (!release) {
      metrics.recordRejection('overloaded');
      refuse(ctx, {
        stage: 'limits',
        reason: 'overloaded',
        detail: `${describeBytes(budget.heldBytes)} of ${describeBytes(config.bodyMemoryLimitBytes)} (BODY_MEMORY_LIMIT) held by bodies in flight`,
      }, (message, fields) => warnOverloaded(message, { ...fields, content_encoding: boundText(ctx.get('content-encoding')) || 'none' }));
      ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
      ctx.set('Connection', 'close');
      return answerRejected(ctx, 'overloaded');
    }

    ctx.req.once('close', () => {
      if (!ctx.req.complete) endPipedReaders(ctx.req);
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => {
        if (!ctx.req.complete) resolve('late');
      }, config.bodyTimeoutMs);
    });
    const handled = next().finally(() => {
      clearTimeout(timer);
      release();
    });
    const outcome = await Promise.race([handled.then(() => 'done' as const), late]);
    if (outcome === 'done') return;
    // The handler is still waiting for the body. Node does not abort a request whose answer is out, so the
    // read would wait forever and keep the budget: end it once this answer is written; the handler then
    // records nothing more (the answer is out) and gives the budget back.
    handled.catch(() => undefined);
    ctx.res.once('close', () => ctx.req.destroy());
    metrics.recordRejection('request_timeout');
    refuse(ctx, {
      stage: 'limits',
      reason: 'request_timeout',
      detail: `body not complete ${config.bodyTimeoutMs / 1000} s after the headers (BODY_TIMEOUT_SECONDS)`,
    }, (message, fields) => warnTimeout(message, { ...fields, content_encoding: boundText(ctx.get('content-encoding')) || 'none' }));
    ctx.set('Connection', 'close');
    answerRejected(ctx, 'request_timeout');
  };
}

/**
 * A compressed body is read through a zlib stream piped from the request; when the request is cut, pipe()
 * does not tell that stream, and the body read would wait (holding the inflated bytes and its share of the
 * budget) forever. Ending it with an error lets the read fail like any cut-short body.
 */
function endPipedReaders(req: IncomingMessage): void {
  const pipes = (req as IncomingMessage & { _readableState?: { pipes?: Writable[] } })._readableState?.pipes ?? [];
  for (const reader of [...pipes]) reader.destroy(new Error('request closed before its body was complete'));
}

/** A request carries a body when it says so (Content-Length > 0 or chunked), whatever its type. */
function hasBody(ctx: Context): boolean {
  return ctx.request.length > 0 || ctx.get('transfer-encoding') !== '';
}

function describeBytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
