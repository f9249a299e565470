import { randomBytes } from 'node:crypto';
import { SpanKind, TraceFlags, trace, type Link } from '@opentelemetry/api';
import type { QuarantinedDelivery } from '../store/types';
import type { Logger } from '../telemetry/logger';
import { RELEASE_ATTR, RELEASE_SPAN, type ReleaseHow } from '../vocabulary/names';
import { linkableSpanContext } from '../telemetry/trace-links';
import type { RecoverMetrics } from './metrics';

const tracer = trace.getTracer('bitrix24-webhook-guard');

export interface Release {
  how: ReleaseHow;
  row: QuarantinedDelivery;
  eventId: string;
  webhook: string;
  /** Why an operator released a delivery that carried no token (console or CLI only). */
  operatorReason?: string;
}

/** Logs, counts and traces one release: the same record whoever released it. */
export type ReleaseRecorder = (release: Release) => void;

export function createReleaseRecorder(logger: Logger, metrics?: RecoverMetrics): ReleaseRecorder {
  return ({ how, row, eventId, webhook, operatorReason }) => {
    // The release gets its own span, linked to the trace of the refused delivery (whose span id is not kept).
    const links: Link[] = row.traceId
      ? [
          {
            context: {
              traceId: row.traceId,
              spanId: randomBytes(8).toString('hex'),
              traceFlags: TraceFlags.SAMPLED,
              isRemote: true,
            },
          },
        ]
      : [];
    const span = tracer.startSpan(RELEASE_SPAN, {
      kind: SpanKind.INTERNAL,
      links,
      attributes: {
        [RELEASE_ATTR.how]: how,
        [RELEASE_ATTR.quarantineId]: row.id,
        [RELEASE_ATTR.eventId]: eventId,
        [RELEASE_ATTR.webhookName]: webhook,
      },
    });
    // Every release is exported whatever the accepted-trace ratio: it is an operator's (or start-up's) change.
    const exported = linkableSpanContext(span.spanContext(), true);
    span.end();
    metrics?.recordRelease(how);
    const fields = {
      how,
      quarantine_id: row.id,
      event_id: eventId,
      webhook,
      reason: row.reason,
      diagnosis: row.diagnosis,
      // The refused delivery's trace (the event keeps it), and the release's own when it is exported.
      trace_id: row.traceId ?? undefined,
      release_trace_id: exported?.traceId,
    };
    if (operatorReason !== undefined)
      logger.warn('quarantined delivery released WITHOUT a token by the operator', {
        ...fields,
        operator_reason: operatorReason,
      });
    else logger.info('quarantined delivery replayed: now an accepted event', fields);
  };
}
