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

/** What one body has taken from the budget; the body reader charges it as bytes arrive. */
export interface BodyMeter {
  /** Takes `bytes` more; false (and nothing taken) when the budget has no room for them. */
  charge(bytes: number): boolean;
  /** Bytes this body has received so far. */
  readonly received: number;
  /** Gives everything back (once). */
  release(): void;
}

/**
 * Bytes that bodies being read or handled may hold at once, counted as they actually arrive (after
 * decompression), never reserved up front: a connection that declares 256 KB and trickles a few bytes holds
 * a few bytes, so hundreds of slow clients cannot starve a genuine delivery. Compressed or chunked bodies
 * together may hold at most half the budget, so a flood of them leaves room for plain deliveries (Bitrix24
 * sends plain form bodies with a Content-Length).
 */
export function createBodyBudget(totalBytes: number) {
  const unsizedShare = Math.floor(totalBytes / 2);
  let held = 0;
  let unsizedHeld = 0;
  return {
    /** Whether a new body may start at all (the budget is not already full). */
    get full(): boolean {
      return held >= totalBytes;
    },
    open(unsized: boolean): BodyMeter {
      let received = 0;
      let released = false;
      return {
        charge(bytes) {
          if (released) return false;
          if (held + bytes > totalBytes || (unsized && unsizedHeld + bytes > unsizedShare)) return false;
          held += bytes;
          if (unsized) unsizedHeld += bytes;
          received += bytes;
          return true;
        },
        get received() {
          return received;
        },
        release() {
          if (released) return;
          released = true;
          held -= received;
          if (unsized) unsizedHeld -= received;
        },
      };
    },
    get heldBytes() {
      return held;
    },
  };
}

/** Key of ctx.state under which the guard hands the body's meter to the body reader. */
export const BODY_METER_STATE = 'bodyMeter';
/** A body is measured against BODY_MIN_BYTES_PER_SECOND only after this long (a slow start is not a trickle). */
export const MIN_RATE_GRACE_MS = 2000;
const MIN_RATE_CHECK_MS = 500;

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
export function guardBody({
  config,
  metrics,
  refuse,
  budget = createBodyBudget(config.bodyMemoryLimitBytes),
}: BodyGuardDeps): Middleware {
  const warnOverloaded = refuse.warnOverloaded;
  const warnTimeout = rateLimitedWarn(refuse.logger, REFUSAL_LOG_INTERVAL_MS);

  return async (ctx, next) => {
    if (!hasBody(ctx)) return next();
    const encoding = ctx.get('content-encoding').trim().toLowerCase();
    const unsized = (encoding !== '' && encoding !== 'identity') || ctx.get('content-length') === '';
    if (budget.full) {
      metrics.recordRejection('overloaded');
      refuse(
        ctx,
        {
          stage: 'limits',
          reason: 'overloaded',
          detail: `${describeBytes(budget.heldBytes)} of ${describeBytes(config.bodyMemoryLimitBytes)} (BODY_MEMORY_LIMIT) held by bodies in flight`,
        },
        (message, fields) =>
          warnOverloaded(message, { ...fields, content_encoding: boundText(ctx.get('content-encoding')) || 'none' }),
      );
      ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
      ctx.set('Connection', 'close');
      return answerRejected(ctx, 'overloaded');
    }

    const meter = budget.open(unsized);
    ctx.state[BODY_METER_STATE] = meter;
    ctx.req.once('close', () => {
      if (!ctx.req.complete) endPipedReaders(ctx.req);
    });
    let timer: NodeJS.Timeout | undefined;
    let rateTimer: NodeJS.Timeout | undefined;
    const started = Date.now();
    const late = new Promise<'late' | 'slow'>((resolve) => {
      timer = setTimeout(() => {
        if (!ctx.req.complete) resolve('late');
      }, config.bodyTimeoutMs);
      if (config.bodyMinBytesPerSecond > 0) {
        rateTimer = setInterval(() => {
          const elapsedMs = Date.now() - started;
          if (ctx.req.complete || elapsedMs < MIN_RATE_GRACE_MS) return;
          if ((meter.received * 1000) / elapsedMs < config.bodyMinBytesPerSecond) resolve('slow');
        }, MIN_RATE_CHECK_MS);
        rateTimer.unref();
      }
    });
    const handled = next().finally(() => {
      clearTimeout(timer);
      clearInterval(rateTimer);
      meter.release();
    });
    const outcome = await Promise.race([handled.then(() => 'done' as const), late]);
    if (outcome === 'done') return;
    clearTimeout(timer);
    clearInterval(rateTimer);
    // The handler is still waiting for the body. Node does not abort a request whose answer is out, so the
    // read would wait forever and keep the budget: end it once this answer is written; the handler then
    // records nothing more (the answer is out) and gives the budget back.
    handled.catch(() => undefined);
    ctx.res.once('close', () => ctx.req.destroy());
    metrics.recordRejection('request_timeout');
    refuse(
      ctx,
      {
        stage: 'limits',
        reason: 'request_timeout',
        detail:
          outcome === 'slow'
            ? `body arriving slower than ${config.bodyMinBytesPerSecond} bytes a second (BODY_MIN_BYTES_PER_SECOND)`
            : `body not complete ${config.bodyTimeoutMs / 1000} s after the headers (BODY_TIMEOUT_SECONDS)`,
      },
      (message, fields) =>
        warnTimeout(message, { ...fields, content_encoding: boundText(ctx.get('content-encoding')) || 'none' }),
    );
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
