import {
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { RecordedSpan } from './recorded-span';

/**
 * A child of the span in `parent`: recorded as data when that span is (the service's own server span and its
 * descendants), an SDK span otherwise (the http instrumentation's server span, or no span at all).
 */
export function startChildSpan(tracer: Tracer, name: string, parent: Context, attributes?: Attributes): Span {
  const parentSpan = trace.getSpan(parent);
  if (parentSpan instanceof RecordedSpan)
    return parentSpan.trace.startSpan(tracer, name, SpanKind.INTERNAL, attributes ?? {}, parentSpan);
  return tracer.startSpan(name, attributes ? { attributes } : {}, parent);
}

/** The same, for a parent span in hand (no context to carry it). */
export function startChildOf(tracer: Tracer, name: string, parent: Span, attributes?: Attributes): Span {
  if (parent instanceof RecordedSpan)
    return parent.trace.startSpan(tracer, name, SpanKind.INTERNAL, attributes ?? {}, parent);
  return tracer.startSpan(name, attributes ? { attributes } : {}, trace.setSpan(ROOT_CONTEXT, parent));
}
