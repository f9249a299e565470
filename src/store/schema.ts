import type { ColumnType } from 'kysely';
// Row shapes as stored. Times are milliseconds since the epoch (BIGINT on both databases: portable,
// sortable, no time-zone conversion); JSON is text.
export interface EventsTable {
  id: string;
  received_at: number | string; // pg returns BIGINT as a string
  trace_id: string | null;
  webhook: string;
  event: string | null;
  event_handler_id: string | null;
  ts: string | null;
  portal_domain: string | null;
  member_id: string | null;
  data: string;
  body: string | null;
  content_type: string | null;
  status: string;
  attempts: number;
  next_attempt_at: number | string;
  lease_owner: string | null;
  lease_until: number | string | null;
  last_error: string | null;
  delivered_at: number | string | null;
  quarantine_id: string | null;
  /** 1 for a delivery `doctor --url` sent (migration 0002_self_test_marks). */
  self_test: ColumnType<number, number | undefined, number>;
}

export interface QuarantineTable {
  id: string;
  received_at: number | string;
  status: number;
  reason: string;
  diagnosis: string | null;
  trace_id: string | null;
  event: string | null;
  event_handler_id: string | null;
  ts: string | null;
  portal_domain: string | null;
  member_id: string | null;
  header_names: string;
  headers: string;
  body: string | null;
  body_truncated: number;
  candidates: string;
  released_at: number | string | null;
  released_event_id: string | null;
  release_note: string | null;
  /** 1 for a delivery `doctor --url` sent (migration 0002_self_test_marks). */
  self_test: ColumnType<number, number | undefined, number>;
  /** Bytes the row keeps (body, headers, candidates): what QUARANTINE_MAX_BYTES counts. */
  size_bytes: number | string;
  /** 1: a known portal's delivery with a Bitrix24-shaped token, evicted only after every other row. */
  plausible: number;
}

/** Portals (member_id and domain) the service has accepted an event from: what makes a refusal plausible. */
export interface KnownPortalsTable {
  member_id: string;
  domain: string;
  first_accepted_at: number | string;
}

export interface Database {
  events: EventsTable;
  quarantine: QuarantineTable;
  known_portals: KnownPortalsTable;
}
