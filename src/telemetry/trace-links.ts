import { TraceFlags, trace, type SpanContext } from '@opentelemetry/api';

/** What decides whether a trace is exported (the outcome span processor of tracing.ts). */
export interface ExportDecider {
  exported(traceId: string, mustKeep?: boolean): boolean;
}

let decider: ExportDecider | undefined;

export function setExportDecider(value: ExportDecider | undefined): void {
  decider = value;
}

/**
 * The trace id a log line or an exemplar may carry: only that of a trace that is (or will be) exported, since a
 * link that leads nowhere is worse than none. `mustKeep` (a warning or error about this request) makes the trace
 * exported, so the line that reports a failure always leads to its trace.
 */
export function linkableSpanContext(spanContext: SpanContext | undefined, mustKeep = false): SpanContext | undefined {
  if (!spanContext || !trace.isSpanContextValid(spanContext)) return undefined;
  if ((spanContext.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
  if (decider && !decider.exported(spanContext.traceId, mustKeep)) return undefined;
  return spanContext;
}

/** The same for a bare trace id (an exemplar): undefined when its trace is not exported. */
export function linkableTraceId(traceId: string | undefined): string | undefined {
  if (!traceId) return undefined;
  return !decider || decider.exported(traceId) ? traceId : undefined;
}
