import { context, trace, type Context } from '@opentelemetry/api';
import winston from 'winston';
import { logRecordsExported } from './log-export';
import { linkableSpanContext } from './trace-links';

import type { LogLevel } from '../config/load';
import { createSecretGuard, type SecretGuard } from '../secrets/secret-guard';

export type Logger = winston.Logger;

/**
 * A field of a log call's fields: the context of the request the line is about (ctx.state.serverContext). The
 * request path passes its trace explicitly rather than as the active context. Not printed (a symbol key).
 */
export const LOG_CONTEXT: unique symbol = Symbol('the request context of a log line');

/** Adds trace_id/span_id of the request's span (LOG_CONTEXT) or the active span, so a line leads to its trace. */
const traceContext = winston.format((info) => {
  const given = (info as { [LOG_CONTEXT]?: Context })[LOG_CONTEXT];
  const span = given ? trace.getSpan(given) : trace.getActiveSpan();
  // Only ids of traces that are exported; a warning or an error makes its trace exported.
  const spanContext = linkableSpanContext(span?.spanContext(), info.level === 'warn' || info.level === 'error');
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
export function createLogger(
  level: LogLevel,
  transports?: winston.transport[],
  secrets: readonly string[] = [],
): Logger {
  const logger = winston.createLogger({
    level,
    format: winston.format.combine(traceContext(), winston.format.timestamp(), orderedJson(createSecretGuard(secrets))),
    transports: transports ?? [new winston.transports.Console()],
  });
  // The winston instrumentation gives an exported log record the context active when the line is written: a
  // line about a request (LOG_CONTEXT) is written inside that request's context. Only when log records are
  // exported, since nothing else needs an active context on the request path.
  const writable = logger as unknown as { write(info: { [LOG_CONTEXT]?: Context }, ...rest: unknown[]): boolean };
  const write = writable.write;
  writable.write = function (info, ...rest) {
    const given = logRecordsExported() ? info?.[LOG_CONTEXT] : undefined;
    return given ? context.with(given, () => write.call(this, info, ...rest)) : write.call(this, info, ...rest);
  };
  return logger;
}

/** `timestamp`, `level`, `message` first: what a person scanning the lines reads first. */
function orderedJson(guard: SecretGuard): winston.Logform.Format {
  return winston.format.printf((info) => {
    const { timestamp, level, message, ...fields } = info;
    return guard(JSON.stringify({ timestamp, level, message, ...fields }));
  });
}
