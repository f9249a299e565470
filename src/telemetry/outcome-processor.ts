import { TraceFlags, type Context, type SpanContext } from '@opentelemetry/api';
import type * as tracing from '@opentelemetry/sdk-trace';
import type { SpanDropReason } from '../vocabulary/names';
import { failed, type RecordedTrace } from './recorded-span';
import { inAcceptedShare, type SamplingPolicy } from './sampling';

type ReadableSpan = tracing.ReadableSpan;
type Span = tracing.Span;
type SpanProcessor = tracing.SpanProcessor;

export interface OutcomeLimits {
  /** Traces awaiting their decision at once; a new one beyond this is exported only if known-kept at its start. */
  maxTraces: number;
  /** Ended spans held at once, over all traces. */
  maxSpans: number;
}

export const DEFAULT_LIMITS: OutcomeLimits = { maxTraces: 2048, maxSpans: 16_384 };

interface PendingTrace {
  /** Local roots (server spans, or a span started with no parent) still open. */
  openRoots: number;
  /** Known to be exported: its spans go straight on instead of being held. */
  keep: boolean;
  held: ReadableSpan[];
}

/** A request trace recorded as data (request-tracer.ts), and the SDK spans made inside it meanwhile (pg). */
interface RecordedEntry {
  trace: RecordedTrace;
  held: ReadableSpan[];
}

/**
 * Holds a trace's ended spans until its local root ends, then passes them to the exporting processors or
 * drops them: kept when anything in the trace failed (ERROR status, HTTP status ≥ 400, an exception event, or a
 * warning logged inside it), when an incoming sampled `traceparent` asked for it, or when the trace id falls in
 * the accepted share. Memory is bounded; every span dropped for want of room is counted.
 */
export class OutcomeSpanProcessor implements SpanProcessor {
  readonly dropped: Record<SpanDropReason, number> = { buffer_full: 0, export_queue_full: 0 };
  private readonly pending = new Map<string, PendingTrace>();
  /** Traces that found no room when their root started: their spans are counted as dropped. */
  private readonly overflowed = new Set<string>();
  private heldSpans = 0;
  /** Request traces recorded as data, by trace id, until their last span ends. */
  private readonly recorded = new Map<string, RecordedEntry>();
  /** The trace whose spans are being built for export right now: decided already, passed straight on. */
  private building: string | undefined;

  constructor(
    private readonly exporting: SpanProcessor[],
    public policy: SamplingPolicy,
    private readonly limits: OutcomeLimits = DEFAULT_LIMITS,
  ) {}

  onStart(span: Span, _parentContext: Context): void {
    for (const processor of this.exporting) processor.onStart(span, _parentContext);
    if (this.policy.mode !== 'outcome' || !isLocalRoot(span)) return;
    const traceId = span.spanContext().traceId;
    if (traceId === this.building) return;
    const existing = this.pending.get(traceId);
    if (existing) {
      existing.openRoots++;
      return;
    }
    const keep = remoteSampled(span.parentSpanContext) || inAcceptedShare(traceId, this.policy.acceptedRatio);
    if (this.pending.size >= this.limits.maxTraces && !keep) {
      if (this.overflowed.size < this.limits.maxTraces) this.overflowed.add(traceId);
      return;
    }
    this.pending.set(traceId, { openRoots: 1, keep, held: [] });
  }

  onEnd(span: ReadableSpan): void {
    if (this.policy.mode === 'none') return;
    const traceId = span.spanContext().traceId;
    if (this.policy.mode === 'all' || traceId === this.building) {
      this.forward(span);
      return;
    }
    const recorded = this.recorded.size > 0 ? this.recorded.get(traceId) : undefined;
    if (recorded) {
      this.holdForRecorded(recorded, span);
      return;
    }
    const trace = this.pending.get(traceId);
    const root = isLocalRoot(span);
    if (!trace) {
      if (this.overflowed.has(traceId)) {
        this.dropped.buffer_full++;
        if (root) this.overflowed.delete(traceId);
      } else if (
        failed(span) ||
        remoteSampled(span.parentSpanContext) ||
        inAcceptedShare(traceId, ratioOf(this.policy))
      ) {
        // A span outside any held trace (ended after its root, or a root this processor never saw start).
        this.forward(span);
      }
      return;
    }
    if (!trace.keep && failed(span)) this.keep(trace);
    if (trace.keep) this.forward(span);
    else if (this.heldSpans >= this.limits.maxSpans) this.dropped.buffer_full++;
    else {
      trace.held.push(span);
      this.heldSpans++;
    }
    if (root && --trace.openRoots <= 0) {
      this.pending.delete(traceId);
      this.heldSpans -= trace.held.length;
      trace.held = [];
    }
  }

  /**
   * Whether this trace is (or will be) exported, as far as can be known now: a log line or an exemplar carries
   * the trace id only then. `mustKeep` (a warning or an error being logged inside the trace) makes it so.
   */
  exported(traceId: string, mustKeep = false): boolean {
    if (this.policy.mode !== 'outcome') return this.policy.mode === 'all';
    const recorded = this.recorded.size > 0 ? this.recorded.get(traceId) : undefined;
    if (recorded) {
      if (mustKeep && recorded.trace.recording) recorded.trace.keep = true;
      return recorded.trace.recording && recorded.trace.keep;
    }
    const trace = this.pending.get(traceId);
    if (!trace) return false;
    if (mustKeep && !trace.keep) this.keep(trace);
    return trace.keep;
  }

  /** Traces awaiting their decision (recorded request traces included) and spans held (for tests and the memory bound). */
  get holding(): { traces: number; spans: number } {
    return { traces: this.pending.size + this.recorded.size, spans: this.heldSpans };
  }

  /** A request trace recorded as data from now until `settle`: log lines and exemplars ask about it by id. */
  begin(trace: RecordedTrace): void {
    // Two requests continuing one caller's trace at once: the later one answers for the id meanwhile.
    this.recorded.set(trace.traceId, { trace, held: [] });
  }

  /**
   * The recorded trace's last span has ended: whether it is exported (a failure, a warning, a sampled caller,
   * its share, always_on) and, if so, `build` makes its SDK spans, which pass straight on to the exporters
   * with the SDK spans made inside it meanwhile.
   */
  settle(trace: RecordedTrace, build: () => void): void {
    const entry = this.recorded.get(trace.traceId);
    const held = entry?.trace === trace ? entry.held : [];
    if (entry?.trace === trace) this.recorded.delete(trace.traceId);
    this.heldSpans -= held.length;
    if (!this.exports(trace)) return;
    this.buildExported(trace.traceId, build);
    for (const span of held) this.forward(span);
  }

  /** A span of a settled trace, started after the trace was settled, has ended: exported on the same terms. */
  settleLate(trace: RecordedTrace, build: () => void): void {
    if (this.exports(trace)) this.buildExported(trace.traceId, build);
  }

  private exports(trace: RecordedTrace): boolean {
    if (!trace.recording || this.policy.mode === 'none') return false;
    return this.policy.mode === 'all' || trace.keep;
  }

  private buildExported(traceId: string, build: () => void): void {
    this.building = traceId;
    try {
      build();
    } finally {
      this.building = undefined;
    }
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.exporting.map((processor) => processor.forceFlush()));
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.exporting.map((processor) => processor.shutdown()));
  }

  private holdForRecorded(entry: RecordedEntry, span: ReadableSpan): void {
    if (!entry.trace.keep && failed(span)) entry.trace.keep = true;
    if (this.heldSpans >= this.limits.maxSpans) {
      this.dropped.buffer_full++;
      return;
    }
    entry.held.push(span);
    this.heldSpans++;
  }

  private keep(trace: PendingTrace): void {
    trace.keep = true;
    this.heldSpans -= trace.held.length;
    for (const span of trace.held) this.forward(span);
    trace.held = [];
  }

  private forward(span: ReadableSpan): void {
    for (const processor of this.exporting) {
      if (queueFull(processor)) this.dropped.export_queue_full++;
      processor.onEnd(span);
    }
  }
}

function isLocalRoot(span: ReadableSpan): boolean {
  const parent = span.parentSpanContext;
  return parent === undefined || parent.isRemote === true;
}

export function remoteSampled(parent: SpanContext | undefined): boolean {
  return parent !== undefined && parent.isRemote === true && (parent.traceFlags & TraceFlags.SAMPLED) !== 0;
}

function ratioOf(policy: SamplingPolicy): number {
  return policy.mode === 'outcome' ? policy.acceptedRatio : policy.mode === 'all' ? 1 : 0;
}

/**
 * The batch span processor drops a span silently (one diag line) when its queue is full; it keeps the queue
 * private, so it is read here to count those drops. Any other processor is never counted as full.
 */
function queueFull(processor: SpanProcessor): boolean {
  const queue = processor as unknown as { _finishedSpans?: unknown[]; _maxQueueSize?: number };
  return (
    Array.isArray(queue._finishedSpans) &&
    typeof queue._maxQueueSize === 'number' &&
    queue._finishedSpans.length >= queue._maxQueueSize
  );
}
