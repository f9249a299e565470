import client from 'prom-client';
import { answeredByNode } from './node-answers';
import { NODE_ANSWER_STATUSES, SPAN_DROP_REASONS, TRACING_METRIC, type SpanDropReason } from '../vocabulary/names';

/** Where the dropped-span counts live (the outcome span processor); none when the SDK is off. */
let droppedSpans: Record<SpanDropReason, number> | undefined;

export function setDroppedSpanCounts(counts: Record<SpanDropReason, number> | undefined): void {
  droppedSpans = counts;
}

/**
 * Tracing's own counters, read at scrape time from process-wide counts (the span processor starts before any
 * registry exists, and tests make several registries in one process).
 */
export function registerTracingMetrics(registers: client.Registry<client.OpenMetricsContentType>[]): void {
  new client.Counter({
    name: TRACING_METRIC.spansDropped,
    help: 'Spans dropped before export: buffer_full (too many awaiting their sampling decision), export_queue_full (the exporter could not keep up).',
    labelNames: ['reason'] as const,
    registers,
    collect() {
      this.reset();
      for (const reason of SPAN_DROP_REASONS) this.inc({ reason }, droppedSpans?.[reason] ?? 0);
    },
  });
  new client.Counter({
    name: TRACING_METRIC.answeredByNode,
    help: "Requests Node's HTTP server answered itself before the app saw them (408 timeouts, 400 unparseable, 413/431 too large).",
    labelNames: ['status_code'] as const,
    registers,
    collect() {
      this.reset();
      for (const status of NODE_ANSWER_STATUSES) this.inc({ status_code: status }, answeredByNode[status]);
    },
  });
}
