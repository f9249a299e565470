import { trace } from '@opentelemetry/api';
import winston from 'winston';
import { linkableSpanContext } from './trace-links';

import type { LogLevel } from '../config/load';
import { createSecretGuard, type SecretGuard } from '../secrets/secret-guard';

export type Logger = winston.Logger;

/** Adds trace_id/span_id of the active span, so a log line inside a request leads to its trace. */
const traceContext = winston.format((info) => {
  // Only ids of traces that are exported; a warning or an error makes its trace exported.
  const spanContext = linkableSpanContext(trace.getActiveSpan()?.spanContext(), info.level === 'warn' || info.level === 'error');
  if (spanContext) {
    info.trace_id = spanContext.traceId;
    info.span_id = spanContext.spanId;
  }
  return info;
});

/**
 * JSON lines on stdout: `timestamp`, `level`, `message`, then the fields of the call. `transports` replaces
 * stdout (tests capture lines that way). `secrets` (the configured tokens) are replaced in every line, in any
 * encoding, as a last guard.
 */
export function createLogger(level: LogLevel, transports?: winston.transport[], secrets: readonly string[] = []): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(traceContext(), winston.format.timestamp(), orderedJson(createSecretGuard(secrets))),
    transports: transports ?? [new winston.transports.Console()],
  });
}

/** `timestamp`, `level`, `message` first: what a person scanning the lines reads first. */
function orderedJson(guard: SecretGuard): winston.Logform.Format {
  return winston.format.printf((info) => {
    const { timestamp, level, message, ...fields } = info;
    return guard(JSON.stringify({ timestamp, level, message, ...fields }));
  });
}
