import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { core } from '@opentelemetry/sdk-node';
import type { Logger } from './logger';

/** How long one kind of telemetry trouble stays quiet after it was reported. */
export const REPORT_INTERVAL_MS = 10 * 60 * 1000;
const MAX_TRACKED_KINDS = 100;

/**
 * Reports telemetry trouble (an unreachable or hanging OTLP endpoint, say) as one warning per kind per
 * interval, with the count of repeats it held back, instead of one line per failed export or request.
 */
export function createThrottledReporter(logger: Logger, now: () => number = Date.now) {
  const kinds = new Map<string, { lastReported: number; suppressed: number }>();
  return (kind: string, message: string): void => {
    const key = kind + ':' + message.replace(/\d+/g, '#').slice(0, 120);
    const entry = kinds.get(key);
    const time = now();
    if (entry && time - entry.lastReported < REPORT_INTERVAL_MS) {
      entry.suppressed += 1;
      return;
    }
    if (!entry && kinds.size >= MAX_TRACKED_KINDS) kinds.delete(kinds.keys().next().value!);
    const suppressed = entry?.suppressed ?? 0;
    kinds.set(key, { lastReported: time, suppressed: 0 });
    logger.warn(`telemetry ${kind}: ${message}`, {
      telemetry_problem: kind,
      repeats_since_last_report: suppressed,
      next_report_in_seconds: REPORT_INTERVAL_MS / 1000,
    });
  };
}

/** Routes the OpenTelemetry SDK's own errors and warnings into the service log, throttled. */
export function installTelemetryDiagnostics(logger: Logger): void {
  const report = createThrottledReporter(logger);
  core.setGlobalErrorHandler((error) => report('export failing', describe(error)));
  const toReport = (...args: unknown[]) => report('warning', args.map(describe).join(' '));
  const diagLogger: DiagLogger = {
    error: toReport,
    warn: toReport,
    info: () => {},
    debug: () => {},
    verbose: () => {},
  };
  diag.setLogger(diagLogger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}

function describe(value: unknown): string {
  if (value instanceof Error) return value.message || value.name;
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value)?.slice(0, 300) ?? String(value);
  } catch {
    return String(value);
  }
}
