import {
  type SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Attributes,
  type AttributeValue,
  type Exception,
  type Link,
  type Span,
  type SpanContext,
  type SpanStatus,
  type TimeInput,
  type Tracer,
} from '@opentelemetry/api';

/** Epoch milliseconds with sub-millisecond precision: what a span built later is given as its times. */
export const nowMillis = (): number => performance.timeOrigin + performance.now();

export interface RecordedEvent {
  name: string;
  attributes?: Attributes;
  time: TimeInput;
}

/** What a request trace needs from whoever builds it: ids for its spans, and the end of its last span. */
export interface RecordedTraceOwner {
  newSpanId(): string;
  /** Every span of the trace has ended: decide, build and export it (or not). */
  settle(trace: RecordedTrace): void;
  /** A span started after its trace was settled (the request went on after its answer) has ended, with its children. */
  settleLate(trace: RecordedTrace, span: RecordedSpan): void;
}

/**
 * One request's trace as plain data while the request runs: the spans the request path starts are recorded
 * here, with their times, attributes, events and status, and become SDK spans only if the trace is exported.
 */
export class RecordedTrace {
  /** Known to be exported: a failure inside it, a warning logged about it, a sampled caller, or its share. */
  keep: boolean;
  root: RecordedSpan | undefined;
  /** Settled: decided and, if exported, built. A span started later is decided on its own when it ends. */
  settled = false;
  private open = 0;
  private rootEnded = false;

  constructor(
    private readonly owner: RecordedTraceOwner,
    readonly traceId: string,
    /** The caller's span context from an incoming `traceparent`, if any. */
    readonly remoteParent: SpanContext | undefined,
    /** Whether the trace may be exported at all (not under always_off): the spans' sampled flag. */
    readonly recording: boolean,
    keep: boolean,
  ) {
    this.keep = keep;
  }

  startSpan(
    tracer: Tracer,
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    parent?: RecordedSpan,
    startTime?: number,
  ): RecordedSpan {
    const span = new RecordedSpan(
      this,
      tracer,
      name,
      kind,
      this.owner.newSpanId(),
      attributes,
      parent,
      startTime ?? nowMillis(),
      this.settled,
    );
    if (!parent) this.root = span;
    else if (parent.children) parent.children.push(span);
    else parent.children = [span];
    if (!span.late) this.open++;
    return span;
  }

  ended(span: RecordedSpan): void {
    if (!this.keep && failed(span)) this.keep = true;
    if (span.late) {
      // Its children ended before it (the request path ends every span it starts before its parent's end).
      if (!span.parent?.late) this.owner.settleLate(this, span);
      return;
    }
    if (span === this.root) this.rootEnded = true;
    // A child may outlive its root (a store write still running when the client went away): the trace is
    // settled when its last span ends.
    if (--this.open === 0 && this.rootEnded) {
      this.settled = true;
      this.owner.settle(this);
    }
  }
}

/**
 * A span of the request path recorded as data (the API's Span interface, so the code that sets attributes or
 * a status does not change). Its ids are chosen up front and kept by the span built from it.
 */
export class RecordedSpan implements Span {
  status: SpanStatus | undefined;
  events: RecordedEvent[] | undefined;
  links: Link[] | undefined;
  children: RecordedSpan[] | undefined;
  endTime: number | undefined;
  private readonly context: SpanContext;

  constructor(
    readonly trace: RecordedTrace,
    readonly tracer: Tracer,
    public name: string,
    readonly kind: SpanKind,
    spanId: string,
    readonly attributes: Attributes,
    readonly parent: RecordedSpan | undefined,
    readonly startTime: number,
    /** Started after its trace was settled. */
    readonly late = false,
  ) {
    const traceState = trace.remoteParent?.traceState;
    this.context = {
      traceId: trace.traceId,
      spanId,
      traceFlags: trace.recording ? TraceFlags.SAMPLED : TraceFlags.NONE,
      ...(traceState ? { traceState } : {}),
    };
  }

  spanContext(): SpanContext {
    return this.context;
  }

  setAttribute(key: string, value: AttributeValue): this {
    if (this.endTime === undefined && value !== undefined) this.attributes[key] = value;
    return this;
  }

  setAttributes(attributes: Attributes): this {
    for (const key of Object.keys(attributes)) this.setAttribute(key, attributes[key]!);
    return this;
  }

  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    if (this.endTime !== undefined) return this;
    const timeGiven =
      typeof attributesOrTime === 'number' || Array.isArray(attributesOrTime) || attributesOrTime instanceof Date;
    const attributes = timeGiven ? undefined : (attributesOrTime as Attributes | undefined);
    const at = timeGiven ? (attributesOrTime as TimeInput) : (time ?? nowMillis());
    const event: RecordedEvent = attributes ? { name, attributes, time: at } : { name, time: at };
    if (this.events) this.events.push(event);
    else this.events = [event];
    return this;
  }

  addLink(link: Link): this {
    if (this.links) this.links.push(link);
    else this.links = [link];
    return this;
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (this.endTime !== undefined) return this;
    // As the SDK: OK is final, UNSET never overrides.
    if (this.status?.code === SpanStatusCode.OK || status.code === SpanStatusCode.UNSET) return this;
    this.status = status;
    return this;
  }

  updateName(name: string): this {
    if (this.endTime === undefined) this.name = name;
    return this;
  }

  end(endTime?: TimeInput): void {
    if (this.endTime !== undefined) return;
    this.endTime = endTime === undefined ? nowMillis() : millisOf(endTime);
    this.trace.ended(this);
  }

  isRecording(): boolean {
    return this.trace.recording && this.endTime === undefined;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: Attributes = {};
    if (typeof exception === 'string') attributes['exception.message'] = exception;
    else if (exception) {
      if (exception.code) attributes['exception.type'] = exception.code.toString();
      else if (exception.name) attributes['exception.type'] = exception.name;
      if (exception.message) attributes['exception.message'] = exception.message;
      if (exception.stack) attributes['exception.stacktrace'] = exception.stack;
    }
    if (attributes['exception.type'] || attributes['exception.message']) this.addEvent('exception', attributes, time);
  }
}

function millisOf(time: TimeInput): number {
  if (typeof time === 'number') return time;
  if (time instanceof Date) return time.getTime();
  return time[0] * 1e3 + time[1] / 1e6;
}

/** An error anywhere: ERROR status, an HTTP status ≥ 400 (server or client span), or a recorded exception. */
export function failed(span: {
  status: SpanStatus | undefined;
  attributes: Attributes;
  events: readonly { name: string }[] | undefined;
}): boolean {
  if (span.status?.code === SpanStatusCode.ERROR) return true;
  const status = span.attributes['http.response.status_code'];
  if (typeof status === 'number' && status >= 400) return true;
  if (span.events) for (const event of span.events) if (event.name === 'exception') return true;
  return false;
}
