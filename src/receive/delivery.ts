/** Non-secret facts of a delivery, read defensively from whatever body arrived (for spans, logs and the sink). */
export interface DeliveryFacts {
  event: string | undefined;
  eventHandlerId: string | undefined;
  ts: string | undefined;
  domain: string | undefined;
  memberId: string | undefined;
}

const MAX_FACT_LENGTH = 128;

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
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** A string field, bounded in length; anything else (a repeated key, a nested object) is not a fact. */
function text(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' ? value.slice(0, MAX_FACT_LENGTH) : undefined;
}

/** The body without its `auth` block: what a sink may keep. */
export function eventData(body: unknown): unknown {
  return asRecord(body)?.data;
}
