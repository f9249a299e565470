import type { NamedToken } from '../config/tokens';
import { bindingMismatch } from '../config/portal-binding';
import { SECRET_MARKER } from '../secrets/scrub';
import type { StoredEvent } from '../store/types';
import type { ForwardFormat } from './config';

export interface ForwardBody {
  body: string;
  contentType: string;
}

/** Why an event cannot be formatted; it goes to dead letters (an operator can fix the cause and redeliver). */
export class FormatError extends Error {}

/** The key whose value Bitrix24 fills with the webhook's token. */
const FORM_TOKEN_KEY = 'auth[application_token]';

/** The body sent upstream for a stored event. */
export function formatEvent(event: StoredEvent, format: ForwardFormat, tokens: readonly NamedToken[]): ForwardBody {
  if (format === 'json') return { body: JSON.stringify(jsonEvent(event, tokens)), contentType: 'application/json' };
  return bitrix24Body(event, tokens);
}

/**
 * FORWARD_FORMAT=json: the event's facts, no token anywhere. `portal.verified` is true when the event's token
 * name is bound to a portal (`name=token@member_id`) and the event names that portal: only then is the
 * portal more than what the sender wrote.
 */
export function jsonEvent(event: StoredEvent, tokens: readonly NamedToken[] = []) {
  const portal = tokens.find((token) => token.name === event.webhook)?.portal;
  const verified = portal !== undefined && bindingMismatch(portal, event, event.webhook) === undefined;
  return {
    id: event.id,
    webhook: event.webhook,
    event: event.event ?? null,
    event_handler_id: event.eventHandlerId ?? null,
    ts: event.ts ?? null,
    portal: { domain: event.domain ?? null, member_id: event.memberId ?? null, verified },
    data: event.data,
    received_at: event.receivedAt.toISOString(),
  };
}

/**
 * FORWARD_FORMAT=bitrix24: the body as Bitrix24 sent it, with the webhook token put back where the store
 * replaced it. The token is the one configured for the event's webhook name NOW; during a rotation (two
 * tokens under one name) the last one listed, the newest. Other secrets the store removed (a chat-bot's
 * access tokens inside data[BOT]) stay replaced: they belong to Bitrix24's own API, not to this webhook.
 */
export function bitrix24Body(event: StoredEvent, tokens: readonly NamedToken[]): ForwardBody {
  if (event.body === null)
    throw new FormatError('the stored event has no original body to forward (FORWARD_FORMAT=bitrix24)');
  const token = currentToken(tokens, event.webhook);
  if (token === undefined)
    throw new FormatError(`no token is configured for webhook name ${event.webhook}; configure it and redeliver`);
  if (event.contentType?.toLowerCase().includes('json')) {
    return { body: restoreJsonToken(event.body, token), contentType: 'application/json' };
  }
  return { body: restoreFormToken(event.body, token), contentType: 'application/x-www-form-urlencoded' };
}

export function currentToken(tokens: readonly NamedToken[], webhook: string): string | undefined {
  let found: string | undefined;
  for (const entry of tokens) if (entry.name === webhook) found = entry.token;
  return found;
}

/** Replaces the marker in every `auth[application_token]` pair (however its key is percent-encoded); one linear pass. */
function restoreFormToken(body: string, token: string): string {
  return body
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      if (equals < 0 || pair.slice(equals + 1) !== SECRET_MARKER) return pair;
      const key = pair.slice(0, equals);
      if (decodeKey(key) !== FORM_TOKEN_KEY) return pair;
      return `${key}=${encodeURIComponent(token)}`;
    })
    .join('&');
}

function decodeKey(key: string): string {
  try {
    return decodeURIComponent(key.split('+').join(' '));
  } catch {
    return key;
  }
}

function restoreJsonToken(body: string, token: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new FormatError('the stored JSON body does not parse');
  }
  const auth = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>).auth : undefined;
  if (auth && typeof auth === 'object' && (auth as Record<string, unknown>).application_token === SECRET_MARKER) {
    (auth as Record<string, unknown>).application_token = token;
  }
  return JSON.stringify(parsed);
}
