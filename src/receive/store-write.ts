import { context, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
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
  return tracer.startActiveSpan(SPAN.storeWrite, { attributes: { [ATTR.storeKind]: kind, [ATTR.storeSystem]: store.kind } }, parent ?? context.active(), async (span) => {
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
  });
}
