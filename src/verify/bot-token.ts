/**
 * The token a chat-bot event repeats for each bot, in `data[BOT][<bot id>][AUTH][application_token]` (or
 * without `AUTH`). Only the top-level `auth[application_token]` proves the delivery: these are read to
 * explain a refusal or an odd acceptance, never to accept.
 */
export interface BotToken {
  /** Where it was, e.g. `data[BOT][567][AUTH][application_token]` (the bot id is bounded and checked). */
  location: string;
  /** Never logged or exported; compared and fingerprinted only. */
  token: string;
}

/** At most this many bots are looked at: a crafted body cannot make the look-up long. */
const MAX_BOTS = 8;
const BOT_ID = /^[0-9]{1,12}$/;

export function botTokens(body: unknown): BotToken[] {
  const bots = own(own(body, 'data'), 'BOT');
  if (!isRecord(bots)) return [];
  const found: BotToken[] = [];
  for (const id of Object.keys(bots).slice(0, MAX_BOTS)) {
    if (!BOT_ID.test(id)) continue;
    const bot = bots[id];
    const inAuth = own(own(bot, 'AUTH'), 'application_token');
    const direct = own(bot, 'application_token');
    if (typeof inAuth === 'string' && inAuth !== '')
      found.push({ location: `data[BOT][${id}][AUTH][application_token]`, token: inAuth });
    else if (typeof direct === 'string' && direct !== '')
      found.push({ location: `data[BOT][${id}][application_token]`, token: direct });
  }
  return found;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function own(value: unknown, key: string): unknown {
  return isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined;
}
