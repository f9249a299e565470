import { context, diag, DiagLogLevel, ROOT_CONTEXT, type DiagLogger } from '@opentelemetry/api';
import { core } from '@opentelemetry/sdk-node';
import type { Logger } from './logger';

/** How long one kind of telemetry trouble stays quiet after it was reported. */
export const REPORT_INTERVAL_MS = 10 * 60 * 1000;
const MAX_TRACKED_KINDS = 100;

/**
 * Reports telemetry trouble (an unreachable or hanging OTLP endpoint, say) as one warning per kind per
 * interval, with the count of repeats it held back, instead of one line per failed export or request.
 */
export function createThrottledReporter(logger: Logger, destination: string, now: () => number = Date.now) {
  const kinds = new Map<string, { lastReported: number; suppressed: number }>();
  return (kind: string, message: string): void => {
    const key = `${kind}:${kindOf(message)}`;
    const entry = kinds.get(key);
    const time = now();
    if (entry && time - entry.lastReported < REPORT_INTERVAL_MS) {
      entry.suppressed += 1;
      return;
    }
    if (!entry && kinds.size >= MAX_TRACKED_KINDS) kinds.delete(kinds.keys().next().value!);
    const suppressed = entry?.suppressed ?? 0;
    kinds.set(key, { lastReported: time, suppressed: 0 });
    // Outside any request's context: the trouble belongs to no delivery, so the line carries no trace id.
    context.with(ROOT_CONTEXT, () =>
      logger.warn(`${kind}: ${message}`, {
        telemetry_destination: destination,
        repeats_since_last_report: suppressed,
        next_report_in_seconds: REPORT_INTERVAL_MS / 1000,
        deliveries_affected: false,
      }),
    );
  };
}

/**
 * What makes two messages the same trouble: the text without its numbers, hex ids and quoted or braced
 * values. "Can not execute the operation on ended Span {traceId: …, spanId: …}" names a fresh span each
 * time; keyed on the whole text it was never throttled (one line per refusal under a flood).
 */
function kindOf(message: string): string {
  return message
    .replace(/\{[^{}]*\}/g, '{…}')
    .replace(/"[^"]*"|'[^']*'/g, '…')
    .replace(/\b[0-9a-f]{8,}\b/gi, '#')
    .replace(/\d+/g, '#')
    .slice(0, 120);
}

/**
 * Routes the OpenTelemetry SDK's own errors and warnings (failed exports above all) into the service log,
 * throttled. `destination` says where telemetry goes, so the line tells which endpoint is in trouble.
 */
export function installTelemetryDiagnostics(logger: Logger, destination: string): void {
  const report = createThrottledReporter(logger, destination);
  core.setGlobalErrorHandler((error) => report('telemetry export failing', describe(error)));
  const toReport = (...args: unknown[]) => report('telemetry export or SDK problem', args.map(describe).join(' '));
  const diagLogger: DiagLogger = {
    error: toReport,
    warn: toReport,
    info: () => {},
    debug: () => {},
    verbose: () => {},
  };
  diag.setLogger(diagLogger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}

/** The message (and code) of an error, even one that crossed a boundary as a plain object; never a stack. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string')
    return value.startsWith('{') ? describe(parseJson(value) ?? value.slice(0, 300)) : value;
  if (typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string') {
    const { message, code } = value as { message: string; code?: unknown };
    return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
  }
  try {
    return JSON.stringify(value)?.slice(0, 300) ?? String(value);
  } catch {
    return String(value);
  }
}
