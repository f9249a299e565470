import { ConfigError } from './errors';
import { tokenShapeProblem } from './hygiene';
import { splitBinding, type PortalBinding } from './portal-binding';

/** One configured token. Several may share a name while a token is being rotated. */
export interface NamedToken {
  name: string;
  token: string;
  /** The portal deliveries verified by this token must name (optional: `name=token@member_id`). */
  portal?: PortalBinding;
}

export const DEFAULT_TOKEN_NAME = 'default';
const TOKEN_NAME = /^[a-z0-9_-]{1,32}$/;
const SURROUNDING_NOISE = /^[\s"'`]+|[\s"'`]+$/g;

/**
 * A configured token that does not look like a Bitrix24 token: named by where it is configured and what is
 * off (lengths and kinds of characters only, never the token). Every refused delivery carries these.
 */
export interface TokenFault {
  /** The token's name (`default` for BITRIX24_OUTGOING_WEBHOOK_TOKEN). */
  name: string;
  /** The variable (and entry) that holds it, e.g. `BITRIX24_WEBHOOK_TOKENS entry 2 (crm)`. */
  where: string;
  problem: string;
}

export interface CleanedToken {
  token: string;
  /** Copy-paste mistakes worth telling the operator about: cleaned surroundings, a value unlike a token. */
  warnings: string[];
  /** What makes the token unlike a Bitrix24 token, when it is. */
  shapeProblem?: string;
}

/**
 * Removes whitespace and quotes around a configured token (the token alphabet has neither, so they can
 * only be a copy-paste mistake) and rejects an empty value. `where` names the variable (and entry).
 */
export function cleanToken(raw: string, where: string): CleanedToken {
  const token = raw.replace(SURROUNDING_NOISE, '');
  if (token === '') throw new ConfigError(where, 'the token is empty');
  if (/[\s"'`]/.test(token)) {
    throw new ConfigError(where, 'the token contains whitespace or quotes inside it; Bitrix24 tokens never do');
  }
  const warnings: string[] = [];
  if (token !== raw) warnings.push(`${where}: surrounding whitespace or quotes were removed from the token`);
  const shape = tokenShapeProblem(token);
  if (shape) warnings.push(`${where}: the token ${shape}`);
  return { token, warnings, ...(shape ? { shapeProblem: shape } : {}) };
}

/**
 * Parses `name=token` entries separated by commas or newlines. Blank entries and `#` comment lines are
 * ignored; anything else that is not `name=token` with a valid name is an error naming the entry.
 */
export function parseTokenList(
  text: string,
  variable: string,
): { tokens: NamedToken[]; warnings: string[]; faults: TokenFault[] } {
  const tokens: NamedToken[] = [];
  const warnings: string[] = [];
  const faults: TokenFault[] = [];
  const entries = text.split(/[,\n\r]+/).map((entry) => entry.trim());
  entries.forEach((entry, index) => {
    if (entry === '' || entry.startsWith('#')) return;
    const where = `${variable} entry ${index + 1}`;
    const separator = entry.indexOf('=');
    if (separator < 0) throw new ConfigError(where, 'expected name=token (the token itself is not shown)');
    const name = entry.slice(0, separator).trim();
    if (!TOKEN_NAME.test(name)) {
      throw new ConfigError(where, `the name ${JSON.stringify(name.slice(0, 40))} must match [a-z0-9_-]{1,32}`);
    }
    const { token: value, portal } = splitBinding(entry.slice(separator + 1), `${where} (${name})`);
    const cleaned = cleanToken(value, `${where} (${name})`);
    warnings.push(...cleaned.warnings);
    if (cleaned.shapeProblem) faults.push({ name, where: `${where} (${name})`, problem: cleaned.shapeProblem });
    tokens.push({ name, token: cleaned.token, ...(portal ? { portal } : {}) });
  });
  return { tokens, warnings, faults };
}
