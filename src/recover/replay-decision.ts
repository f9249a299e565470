import type { QuarantinedDelivery, ReleasedEvent, TokenCandidate } from '../store/types';
import { deliveryFacts, eventData } from '../receive/delivery';
import { FORM_PARSE_OPTIONS } from '../receive/form-options';
import type { DigestMatcher } from '../verify/verify';
import { BODY_TOKEN_LOCATIONS } from '../verify/extract';
import type { TokenSource } from '../vocabulary/names';
import qs from 'qs';
import type { NamedToken } from '../config/tokens';
import { bindingMismatch } from '../config/portal-binding';

/** Refusals a replay can turn into events: the token ones. A body refused for its shape stays refused. */
export const REPLAYABLE_REASONS: readonly string[] = [
  'token_missing',
  'token_mismatch',
  'not_configured',
  'portal_mismatch',
];
/**
 * Body and route refusals of a delivery shaped like Bitrix24's (`event=ON…` with `auth[…]`): the cause was in
 * front of the service (a relabelled type, a mistyped path), the body is whole, so its token decides.
 */
export const REPLAYABLE_DIAGNOSES: readonly string[] = [
  'unsupported_media_type_bitrix24_body',
  'wrong_path_bitrix24_body',
];

/**
 * Where the service reads a body token, as the receiver's own reader names them: a candidate elsewhere (a
 * dotted key, a JSON fragment, a chat bot's token, what the raw-body scan saw) never decides a replay.
 */
const READ_BODY_LOCATIONS: ReadonlySet<string> = new Set(BODY_TOKEN_LOCATIONS);

export type ReplayDecision =
  | { action: 'release'; webhook: string; source: TokenSource }
  | { action: 'no_token' }
  | { action: 'mismatch'; source: TokenSource }
  /** The token matches `webhook`, which is bound to another portal than the delivery names. */
  | { action: 'portal_mismatch'; webhook: string; detail: string }
  | { action: 'already_released'; eventId: string }
  | { action: 'not_replayable'; reason: string };

/**
 * What the current configuration says of a quarantined delivery, from its stored candidate digests only, the
 * way the service decides: the first source (in BITRIX24_TOKEN_SOURCES order) that held exactly one token
 * decides, and it matches a configured token or not. Pure.
 */
export function decideReplay(
  delivery: QuarantinedDelivery,
  sources: readonly TokenSource[],
  match: DigestMatcher,
  tokens: readonly NamedToken[] = [],
): ReplayDecision {
  if (delivery.releasedEventId !== null) return { action: 'already_released', eventId: delivery.releasedEventId };
  if (!REPLAYABLE_REASONS.includes(delivery.reason) && !REPLAYABLE_DIAGNOSES.includes(delivery.diagnosis ?? '')) {
    return { action: 'not_replayable', reason: delivery.reason };
  }
  // A delivery `doctor --url` sent tests the deployment; it is never an event, whatever the token.
  if (delivery.selfTest) return { action: 'not_replayable', reason: 'self_test' };
  for (const source of sources) {
    const found = candidatesOf(delivery.candidates, source);
    // A repeated key is not a token (as at receive time): that source holds none.
    if (found.length !== 1) continue;
    const webhook = match(found[0]!.digest);
    if (webhook === undefined) return { action: 'mismatch', source };
    // A token bound to a portal releases only that portal's deliveries, as at receive time.
    const portal = tokens.find((token) => token.name === webhook)?.portal;
    const detail = portal && bindingMismatch(portal, delivery, webhook);
    return detail ? { action: 'portal_mismatch', webhook, detail } : { action: 'release', webhook, source };
  }
  return { action: 'no_token' };
}

function candidatesOf(candidates: readonly TokenCandidate[], source: TokenSource): TokenCandidate[] {
  if (source !== 'body') return candidates.filter((candidate) => candidate.source === source).slice(0, 1);
  return candidates.filter((candidate) => candidate.source === 'body' && READ_BODY_LOCATIONS.has(candidate.location));
}

/** The event a released delivery becomes: facts and data read back from its stored (scrubbed) body. */
export function releasedEvent(delivery: QuarantinedDelivery, webhook: string, note?: string): ReleasedEvent {
  const body = parseStoredBody(delivery.body, delivery.headers['content-type']);
  const facts = body === undefined ? delivery : deliveryFacts(body);
  return {
    webhook,
    event: facts.event ?? delivery.event,
    eventHandlerId: facts.eventHandlerId ?? delivery.eventHandlerId,
    ts: facts.ts ?? delivery.ts,
    domain: facts.domain ?? delivery.domain,
    memberId: facts.memberId ?? delivery.memberId,
    data: body === undefined ? null : (eventData(body) ?? null),
    ...(note !== undefined ? { note } : {}),
  };
}

function parseStoredBody(text: string | null, contentType: string | undefined): unknown {
  if (text === null || text === '') return undefined;
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  try {
    if (type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json')))
      return JSON.parse(text) as unknown;
    return qs.parse(text, FORM_PARSE_OPTIONS);
  } catch {
    return undefined;
  }
}
