import { randomBytes } from 'node:crypto';
import { context, SpanKind, SpanStatusCode, trace, TraceFlags, type Link } from '@opentelemetry/api';
import type { NamedToken } from '../config/tokens';
import type { AttemptOutcome, Store, StoredEvent } from '../store/types';
import type { Logger } from '../telemetry/logger';
import { FORWARD_ATTR, FORWARD_SPAN, type ForwardResult } from '../vocabulary/names';
import { upstreamFor, type ForwardConfig } from './config';
import { formatEvent, FormatError, type ForwardBody } from './format';
import type { ForwardMetrics } from './metrics';
import { backoffMs, exhausted, retryAfterMs, verdictForStatus } from './retry';
import { signatureHeaders } from './sign';

const tracer = trace.getTracer('bitrix24-webhook-guard');
/** How often the backlog gauges are refreshed from the store. */
const STATS_INTERVAL_MS = 5_000;
const CLAIM_ERROR_LOG_INTERVAL_MS = 10_000;
/** Most bytes of an upstream's answer kept as the event's last error. */
const ERROR_BODY_BYTES = 200;
/**
 * Read past ERROR_BODY_BYTES before redaction, then cut: a token that straddles the cut is whole when it is
 * redacted (cutting first kept its head). Longer than any configured token in any encoding.
 */
const REDACTION_MARGIN_BYTES = 1024;

export interface WorkerOptions {
  store: Store;
  config: ForwardConfig;
  /** The configured tokens, for FORWARD_FORMAT=bitrix24. */
  tokens: readonly NamedToken[];
  logger: Logger;
  metrics?: ForwardMetrics;
  /** Lease owner: unique per process (several replicas share one PostgreSQL store). */
  owner: string;
  random?: () => number;
}

interface AttemptResult {
  outcome: Exclude<AttemptOutcome, { result: 'aborted' }>;
  status?: number;
}

/**
 * Sends stored events to the application in the background: claims due events from the store under a lease,
 * sends each signed with a per-attempt timeout, and records the result. The backlog lives in the store; at
 * most `concurrency` events are claimed (and held in memory) at once, and sends start at most
 * `ratePerSecond` per second. Claims go in due order, so an event received now is due before a backlog
 * event whose next try is later, and is not starved by it.
 */
export class ForwardWorker {
  private running = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private nextStartAt = 0;
  private loop: Promise<void> | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private lastClaimError = -Infinity;
  private suppressedClaimErrors = 0;
  /** A commit arrived while the loop was busy: its next sleep ends at once. */
  private woken = false;
  private upstream: { failingSince?: Date; consecutiveFailures: number; lastError?: string; lastDeliveredAt?: Date } = {
    consecutiveFailures: 0,
  };

  constructor(private readonly options: WorkerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
    if (this.options.metrics) {
      void this.refreshStats();
      this.statsTimer = setInterval(() => void this.refreshStats(), STATS_INTERVAL_MS);
      this.statsTimer.unref();
    }
  }

  /**
   * Stops claiming, then waits up to `deadlineMs` for the sends in flight; those still running then are
   * aborted and their leases simply expire (another replica, or this one after a restart, sends them).
   */
  async stop(deadlineMs: number): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.statsTimer);
    this.wake?.();
    await this.loop;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs);
    });
    await Promise.race([Promise.allSettled([...this.inFlight]), deadline]);
    clearTimeout(timer);
    if (this.inFlight.size > 0) {
      this.options.logger.warn('forwarding stopped with sends in flight; their leases expire and they are sent again', {
        in_flight: this.inFlight.size,
      });
      this.abort.abort();
      await Promise.allSettled([...this.inFlight]);
    }
  }

  /** An event was committed: claim now instead of at the next poll. */
  notify(): void {
    this.woken = true;
    this.wake?.();
  }

  /** The upstream as the last attempts saw it (for /readyz, which reports it apart from readiness). */
  health(): Record<string, unknown> {
    const { failingSince, consecutiveFailures, lastError, lastDeliveredAt } = this.upstream;
    return {
      status: consecutiveFailures > 0 ? 'failing' : 'ok',
      ...(failingSince
        ? {
            failing_since: failingSince.toISOString(),
            consecutive_failures: consecutiveFailures,
            last_error: lastError,
          }
        : {}),
      ...(lastDeliveredAt ? { last_delivered_at: lastDeliveredAt.toISOString() } : {}),
    };
  }

  private async run(): Promise<void> {
    const { config, store, owner, logger } = this.options;
    while (this.running) {
      const free = config.concurrency - this.inFlight.size;
      if (free <= 0) {
        await Promise.race([...this.inFlight, this.sleep(config.pollMs)]);
        continue;
      }
      let claimed: StoredEvent[];
      try {
        // At most a second's worth of sends: a claimed event waits for its pacing slot well within its lease.
        claimed = await store.claimDue(owner, config.leaseMs, Math.min(free, config.ratePerSecond));
      } catch (error) {
        // A store that is down fails every poll: one line per interval, with the count of the ones left out.
        if (Date.now() - this.lastClaimError >= CLAIM_ERROR_LOG_INTERVAL_MS) {
          logger.error(`forwarding: cannot claim events from the store: ${(error as Error).message}`, {
            suppressed: this.suppressedClaimErrors,
          });
          this.lastClaimError = Date.now();
          this.suppressedClaimErrors = 0;
        } else this.suppressedClaimErrors += 1;
        await this.sleep(config.pollMs);
        continue;
      }
      if (claimed.length === 0) {
        await this.sleep(config.pollMs);
        continue;
      }
      for (const event of claimed) {
        await this.paced();
        const send = this.forward(event)
          .catch((error: unknown) =>
            logger.error(
              `forwarding: attempt failed unexpectedly: ${(error as Error).message}; the lease expires and it is tried again`,
              { event_id: event.id },
            ),
          )
          .finally(() => this.inFlight.delete(send));
        this.inFlight.add(send);
      }
    }
  }

  /** Waits for the next send slot of the rate (FORWARD_RATE_PER_SECOND). */
  private async paced(): Promise<void> {
    const now = Date.now();
    const at = Math.max(now, this.nextStartAt);
    this.nextStartAt = at + 1000 / this.options.config.ratePerSecond;
    if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now));
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async forward(event: StoredEvent): Promise<void> {
    const { store, owner, logger, metrics } = this.options;
    // The claim counted this attempt already (see Store.claimDue).
    const attempt = event.attempts;
    if (event.unreadable !== undefined) {
      // Retrying cannot make it readable: a dead letter at once, so it never holds up the queue.
      const error = `the stored event cannot be read: ${event.unreadable}`;
      const recorded = await store.recordAttempt(event.id, owner, { result: 'dead', error }).catch(() => false);
      if (recorded) {
        metrics?.recordAttempt('dead');
        metrics?.recordUnreadable();
      }
      logger.error('forwarding gave up: the stored event cannot be read; it is a dead letter', {
        event_id: event.id,
        webhook: event.webhook,
        error,
      });
      return;
    }
    const url = upstreamFor(this.options.config, event.webhook);
    if (attempt > this.options.config.maxAttempts) {
      // Claimed more often than allowed without a result recorded: earlier sends ended the process (or outlived
      // their lease). Sending it again could do the same.
      const error = `gave up after ${attempt - 1} attempts without a recorded result (the process stopped during each send: a poison event?)`;
      const recorded = await store.recordAttempt(event.id, owner, { result: 'dead', error }).catch(() => false);
      if (recorded) metrics?.recordAttempt('dead');
      logger.error('forwarding gave up: event is a dead letter (events redeliver after fixing the cause)', {
        event_id: event.id,
        webhook: event.webhook,
        error,
      });
      return;
    }
    if (url === undefined) {
      const error = `no upstream for webhook ${event.webhook}: add it to FORWARD_URLS (or set FORWARD_URL), then events redeliver`;
      const recorded = await store.recordAttempt(event.id, owner, { result: 'dead', error }).catch(() => false);
      if (recorded) metrics?.recordAttempt('dead');
      logger.error('forwarding gave up: event is a dead letter (events redeliver after fixing the cause)', {
        event_id: event.id,
        webhook: event.webhook,
        error,
      });
      return;
    }
    const links: Link[] = event.traceId
      ? [
          {
            context: {
              traceId: event.traceId,
              spanId: randomBytes(8).toString('hex'),
              traceFlags: TraceFlags.SAMPLED,
              isRemote: true,
            },
          },
        ]
      : [];
    const target = new URL(url);
    const span = tracer.startSpan(FORWARD_SPAN, {
      kind: SpanKind.CLIENT,
      links,
      attributes: {
        [FORWARD_ATTR.httpMethod]: 'POST',
        [FORWARD_ATTR.urlFull]: redactedUrl(target),
        [FORWARD_ATTR.serverAddress]: target.hostname,
        [FORWARD_ATTR.serverPort]: Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
        [FORWARD_ATTR.attempt]: attempt,
        [FORWARD_ATTR.eventId]: event.id,
      },
    });
    const result = await context.with(trace.setSpan(context.active(), span), () => this.attempt(event, url, attempt));
    if (result.status !== undefined) span.setAttribute(FORWARD_ATTR.httpStatus, result.status);
    span.setAttribute(FORWARD_ATTR.result, result.outcome.result);
    if (result.outcome.result !== 'delivered') {
      span.setStatus({ code: SpanStatusCode.ERROR, message: result.outcome.error });
      span.setAttribute(FORWARD_ATTR.errorType, result.status !== undefined ? String(result.status) : 'network');
    }
    span.end();
    // Stopped by the shutdown: not the application's answer, so not an attempt; due again at once.
    const outcome: AttemptOutcome = this.abort.signal.aborted ? { result: 'aborted' } : result.outcome;
    let recorded: boolean;
    try {
      recorded = await store.recordAttempt(event.id, owner, outcome);
    } catch (error) {
      logger.error(`forwarding: cannot record an attempt in the store: ${(error as Error).message}`, {
        event_id: event.id,
      });
      return;
    }
    if (outcome.result === 'aborted') return;
    metrics?.recordAttempt(result.outcome.result as ForwardResult);
    if (result.outcome.result === 'delivered') this.upstream = { consecutiveFailures: 0, lastDeliveredAt: new Date() };
    else
      this.upstream = {
        ...this.upstream,
        failingSince: this.upstream.failingSince ?? new Date(),
        consecutiveFailures: this.upstream.consecutiveFailures + 1,
        lastError: result.outcome.error,
      };
    const fields = {
      event_id: event.id,
      webhook: event.webhook,
      attempt,
      status: result.status,
      upstream: redactedUrl(target),
      ...(result.outcome.result === 'retry'
        ? { error: result.outcome.error, next_attempt_at: result.outcome.nextAttemptAt.toISOString() }
        : {}),
      ...(result.outcome.result === 'dead' ? { error: result.outcome.error } : {}),
      ...(recorded ? {} : { lease_lost: true }),
    };
    if (result.outcome.result === 'delivered') logger.debug('forwarded', fields);
    else if (result.outcome.result === 'retry') logger.warn('forwarding failed; will retry', fields);
    else logger.error('forwarding gave up: event is a dead letter (events redeliver after fixing the cause)', fields);
  }

  private async attempt(event: StoredEvent, url: string, attempt: number): Promise<AttemptResult> {
    const { config, tokens } = this.options;
    let formatted: ForwardBody;
    try {
      formatted = formatEvent(event, config.format, tokens);
    } catch (error) {
      if (error instanceof FormatError) return { outcome: { result: 'dead', error: error.message } };
      throw error;
    }
    const now = new Date();
    const headers = {
      'content-type': formatted.contentType,
      ...signatureHeaders(config.secret, event.id, formatted.body, now),
    };
    const signal = AbortSignal.any([AbortSignal.timeout(config.timeoutMs), this.abort.signal]);
    let response: Response;
    let answer: string;
    try {
      response = await fetch(url, { method: 'POST', headers, body: formatted.body, signal, redirect: 'manual' });
      answer = await readBounded(response);
    } catch (error) {
      return this.retryOrDead(event, attempt, withoutUrl(describe(error, config.timeoutMs), url), undefined);
    }
    const verdict = verdictForStatus(response.status);
    if (verdict === 'delivered') return { outcome: { result: 'delivered' }, status: response.status };
    const clean = cutUtf8(withoutTokens(answer, tokens), ERROR_BODY_BYTES);
    const error = `HTTP ${response.status}${clean ? `: ${clean}` : ''}`;
    if (verdict === 'dead') return { outcome: { result: 'dead', error }, status: response.status };
    const retryAfter = retryAfterMs(response.headers.get('retry-after'), new Date(), config.backoffMaxMs);
    return { ...this.retryOrDead(event, attempt, error, retryAfter), status: response.status };
  }

  private retryOrDead(event: StoredEvent, attempt: number, error: string, delayMs: number | undefined): AttemptResult {
    const { config } = this.options;
    const delay = delayMs ?? backoffMs(attempt, config.backoffBaseMs, config.backoffMaxMs, this.options.random);
    const nextAttemptAt = new Date(Date.now() + delay);
    const limit = exhausted(attempt, event.receivedAt, nextAttemptAt, config);
    if (limit !== undefined) return { outcome: { result: 'dead', error: `${error}; ${limit}` } };
    return { outcome: { result: 'retry', error, nextAttemptAt } };
  }

  private async refreshStats(): Promise<void> {
    try {
      this.options.metrics?.setStats(await this.options.store.forwardStats(), new Date());
    } catch {
      // the next refresh tries again; a failing store is reported by the claim loop
    }
  }
}

/** The URL without credentials and with every query value replaced (it may carry a secret). */
export function redactedUrl(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  const keys = [...copy.searchParams.keys()];
  copy.search = '';
  const query = keys.map((key) => `${encodeURIComponent(key)}=REDACTED`).join('&');
  return query ? `${copy.href}?${query}` : copy.href;
}

/**
 * An application that echoes the request in its error answer would hand back the token of a bitrix24-format
 * body: the answer is kept (stored as the last error, logged) only without any configured token.
 */
function withoutTokens(text: string, tokens: readonly NamedToken[]): string {
  let clean = text;
  for (const { token } of tokens) {
    for (const form of new Set([token, encodeURIComponent(token), JSON.stringify(token).slice(1, -1)]))
      clean = clean.split(form).join('REDACTED');
  }
  return clean;
}

/** The start of the answer (for the event's last error); the rest is drained unread. */
async function readBounded(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size < ERROR_BODY_BYTES + REDACTION_MARGIN_BYTES) {
      chunks.push(value);
      size += value.length;
    }
  }
  return Buffer.concat(chunks)
    .subarray(0, ERROR_BODY_BYTES + REDACTION_MARGIN_BYTES)
    .toString('utf8')
    .replace(/\s+/g, ' ')
    .trim();
}

/** At most `limit` UTF-8 bytes, never half a character. */
function cutUtf8(text: string, limit: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= limit) return text;
  let end = limit;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString('utf8');
}

/** A network error's text with the upstream URL (which may hold a query secret) replaced by its redacted form. */
function withoutUrl(text: string, url: string): string {
  return text.includes(url) ? text.split(url).join(redactedUrl(new URL(url))) : text;
}

function describe(error: unknown, timeoutMs: number): string {
  const name = (error as Error)?.name;
  if (name === 'TimeoutError') return `timed out after ${timeoutMs / 1000} s`;
  if (name === 'AbortError') return 'aborted at shutdown';
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return `network error: ${cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error)}`;
}
