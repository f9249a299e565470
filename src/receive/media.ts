import { boundText } from '../telemetry/bound-text';

/** Content codings the body reader can undo (RFC 9110 §8.4: names are case-insensitive; x-gzip is gzip). */
export type ContentCoding = 'identity' | 'gzip' | 'deflate' | 'br';

export type MediaDecision = { ok: true; kind: 'form' | 'json'; coding: ContentCoding } | { ok: false; detail: string };

const FORM_TYPE = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const JSON_SUFFIX = '+json';
const UTF8_NAMES = new Set(['utf-8', 'utf8']);
const CODINGS: Record<string, ContentCoding> = {
  identity: 'identity',
  gzip: 'gzip',
  'x-gzip': 'gzip',
  deflate: 'deflate',
  br: 'br',
};

/**
 * The one decision about a body: its media type (form or JSON), its charset (UTF-8 or none) and its content
 * coding. The body reader obeys it; nothing else looks at these headers. Linear: split and compare, no regex.
 */
export function decideMedia(contentType: string | undefined, contentEncoding: string | undefined): MediaDecision {
  const { type, parameters } = parseContentType(contentType ?? '');
  let kind: 'form' | 'json';
  if (type === FORM_TYPE) kind = 'form';
  else if (type === JSON_TYPE || (type.startsWith('application/') && type.endsWith(JSON_SUFFIX) && isMediaType(type)))
    kind = 'json';
  else return { ok: false, detail: 'Content-Type is neither form nor JSON' };

  const charset = parameters.get('charset');
  if (charset !== undefined && !UTF8_NAMES.has(charset)) {
    return { ok: false, detail: `unsupported charset "${boundText(charset, 40)}" (only UTF-8)` };
  }

  const codings = (contentEncoding ?? '')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  if (codings.length > 1) return { ok: false, detail: 'more than one Content-Encoding' };
  if (codings.length === 0) return { ok: true, kind, coding: 'identity' };
  const coding = Object.hasOwn(CODINGS, codings[0]!) ? CODINGS[codings[0]!] : undefined;
  if (!coding) return { ok: false, detail: `unsupported Content-Encoding "${boundText(codings[0]!, 40)}"` };
  return { ok: true, kind, coding };
}

/** `type/subtype; name=value; …`, lower-cased; empty parameters (`;;`) ignored; quoted values unquoted. */
export function parseContentType(header: string): { type: string; parameters: Map<string, string> } {
  const segments = header.split(';');
  const type = segments[0]!.trim().toLowerCase();
  const parameters = new Map<string, string>();
  for (const segment of segments.slice(1)) {
    const equals = segment.indexOf('=');
    if (equals < 0) continue;
    const name = segment.slice(0, equals).trim().toLowerCase();
    let value = segment.slice(equals + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (name !== '' && !parameters.has(name)) parameters.set(name, value.toLowerCase());
  }
  return { type: isMediaType(type) ? type : '', parameters };
}

/** One `/` between two non-empty runs of RFC 9110 token characters. */
function isMediaType(type: string): boolean {
  const slash = type.indexOf('/');
  if (slash <= 0 || slash === type.length - 1) return false;
  for (let i = 0; i < type.length; i++) {
    if (i !== slash && !TOKEN_CHARS.has(type[i]!)) return false;
  }
  return true;
}

const TOKEN_CHARS = new Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split(''));
