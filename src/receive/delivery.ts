import { boundText } from '../telemetry/bound-text';
import { scrubSecrets } from '../secrets/fields';

/** Non-secret facts of a delivery, read defensively from whatever body arrived (for spans, logs and the sink). */
export interface DeliveryFacts {
  event: string | undefined;
  eventHandlerId: string | undefined;
  ts: string | undefined;
  domain: string | undefined;
  memberId: string | undefined;
}

export function deliveryFacts(body: unknown): DeliveryFacts {
  const record = asRecord(body);
  const auth = asRecord(record?.auth);
  return {
    event: text(record?.event),
    eventHandlerId: text(record?.event_handler_id),
    ts: text(record?.ts),
    domain: text(auth?.domain),
    memberId: text(auth?.member_id),
  };
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * A string field, bounded in length and without control characters (it goes into spans and log lines);
 * anything else (a repeated key, a nested object) is not a fact.
 */
function text(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' ? boundText(value) : undefined;
}

/** The body's `data`, without its `auth` block and without any credential field at any depth: what a sink may keep. */
export function eventData(body: unknown): unknown {
  return scrubSecrets(asRecord(body)?.data);
}

/**
 * The body's `data` as it arrived, for the store: it leaves out every credential field while it serialises
 * (one pass, no copy on the request path). Anything else that keeps or shows data uses eventData.
 */
export function eventDataForStore(body: unknown): unknown {
  return asRecord(body)?.data;
}
