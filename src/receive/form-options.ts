/**
 * qs options for Bitrix24 form bodies (PHP http_build_query): bracket keys nest; numeric keys stay object
 * keys (`data[BOT][567]` is a bot id, not an array index); depth enough for chat-bot events; a bounded
 * number of parameters that rejects rather than silently drops the rest (the token could be among them);
 * a repeated key becomes an array of its values however often it repeats (the parameter limit bounds it);
 * null-prototype objects and no prototype keys, so `__proto__`/`constructor` keys pollute nothing.
 */
export const FORM_PARSE_OPTIONS = {
  depth: 10,
  parameterLimit: 1000,
  arrayLimit: 1000,
  throwOnLimitExceeded: true,
  strictDepth: true,
  parseArrays: false,
  plainObjects: true,
  allowPrototypes: false,
  allowDots: false,
} as const;
