import { context, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { RecordedSpan } from '../telemetry/recorded-span';
import { startChildSpan } from '../telemetry/request-spans';
import type { Store } from '../store/types';
import type { ServiceMetrics } from '../telemetry/metrics';
import { ATTR, SPAN, type StoreWriteKind } from '../vocabulary/names';

const tracer = trace.getTracer('bitrix24-webhook-guard');

export type StoreWriteOutcome = { ok: true; id: string } | { ok: false; error: string };

/**
 * One write to the store inside a `bitrix.store.write` span (child of the HTTP server span), counted by kind
 * and result. Never throws: the caller decides what a failure means for the answer.
 */
export async function writeToStore(
  store: Store,
  kind: StoreWriteKind,
  metrics: ServiceMetrics,
  parent: Context | undefined,
  write: () => Promise<string>,
): Promise<StoreWriteOutcome> {
  const attributes = { [ATTR.storeKind]: kind, [ATTR.storeSystem]: store.kind };
  const parentContext = parent ?? context.active();
  if (!(trace.getSpan(parentContext) instanceof RecordedSpan)) {
    // The old path (the http instrumentation's server span): an SDK span, active so that a pg span nests under it.
    return tracer.startActiveSpan(SPAN.storeWrite, { attributes }, parentContext, (span) =>
      writeInSpan(span, kind, metrics, write),
    );
  }
  const span = startChildSpan(tracer, SPAN.storeWrite, parentContext, attributes);
  // Only the PostgreSQL client's instrumentation reads the active context (its query span nests under this
  // one); the embedded store makes no span, so its writes run without context propagation.
  if (store.kind === 'postgres')
    return context.with(trace.setSpan(parentContext, span), () => writeInSpan(span, kind, metrics, write));
  return writeInSpan(span, kind, metrics, write);
}

async function writeInSpan(
  span: Span,
  kind: StoreWriteKind,
  metrics: ServiceMetrics,
  write: () => Promise<string>,
): Promise<StoreWriteOutcome> {
  try {
    const id = await write();
    span.setAttribute(ATTR.storeId, id);
    metrics.recordStoreWrite(kind, 'ok');
    return { ok: true, id } as const;
  } catch (error) {
    // A driver's message names a table or a file, never a request value (values are bound parameters).
    const message = (error instanceof Error ? error.message : String(error)).slice(0, 300);
    span.setStatus({ code: SpanStatusCode.ERROR, message });
    metrics.recordStoreWrite(kind, 'error');
    return { ok: false, error: message } as const;
  } finally {
    span.end();
  }
}
