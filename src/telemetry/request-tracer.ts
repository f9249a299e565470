import { ROOT_CONTEXT, trace, type Context, type SpanContext } from '@opentelemetry/api';
import { remoteSampled, type OutcomeSpanProcessor } from './outcome-processor';
import { RecordedTrace, type RecordedSpan, type RecordedTraceOwner } from './recorded-span';
import type { RequestIdGenerator } from './request-ids';
import { inAcceptedShare } from './sampling';

/**
 * Starts each request's trace as data (recorded-span.ts) and, when its last span has ended and the outcome
 * says "export", builds the same tree of SDK spans with the recorded times, ids, attributes, events, status
 * and links. A request whose trace is not exported makes no SDK span at all.
 */
export class RequestTracer implements RecordedTraceOwner {
  constructor(
    private readonly outcome: OutcomeSpanProcessor,
    private readonly ids: RequestIdGenerator,
  ) {}

  /** A request's trace: the caller's trace continued (its `traceparent`), or a new trace id. */
  start(remoteParent: SpanContext | undefined): RecordedTrace {
    const policy = this.outcome.policy;
    const traceId = remoteParent?.traceId ?? this.ids.newTraceId();
    const keep =
      policy.mode === 'all' ||
      (policy.mode === 'outcome' && (remoteSampled(remoteParent) || inAcceptedShare(traceId, policy.acceptedRatio)));
    const recorded = new RecordedTrace(this, traceId, remoteParent, policy.mode !== 'none', keep);
    this.outcome.begin(recorded);
    return recorded;
  }

  newSpanId(): string {
    return this.ids.newSpanId();
  }

  settle(recorded: RecordedTrace): void {
    this.outcome.settle(recorded, () => {
      const root = recorded.root;
      if (!root) return;
      this.build(
        root,
        recorded.remoteParent ? trace.setSpanContext(ROOT_CONTEXT, recorded.remoteParent) : ROOT_CONTEXT,
      );
    });
  }

  settleLate(recorded: RecordedTrace, span: RecordedSpan): void {
    const parent = span.parent;
    this.outcome.settleLate(recorded, () =>
      this.build(span, parent ? trace.setSpanContext(ROOT_CONTEXT, parent.spanContext()) : ROOT_CONTEXT),
    );
  }

  /** The SDK span of a recorded one and its children, started and ended at the recorded times. */
  private build(recorded: RecordedSpan, parent: Context): void {
    const { traceId, spanId } = recorded.spanContext();
    const span = this.ids.withIds(traceId, spanId, () =>
      recorded.tracer.startSpan(
        recorded.name,
        {
          kind: recorded.kind,
          startTime: recorded.startTime,
          attributes: recorded.attributes,
          ...(recorded.links ? { links: recorded.links } : {}),
        },
        parent,
      ),
    );
    if (recorded.events) for (const event of recorded.events) span.addEvent(event.name, event.attributes, event.time);
    if (recorded.status) span.setStatus(recorded.status);
    if (recorded.children) {
      const context = trace.setSpan(ROOT_CONTEXT, span);
      for (const child of recorded.children) this.build(child, context);
    }
    span.end(recorded.endTime);
  }
}
