import { SECRET_MARKER } from './scrub';

/** Replaces secrets in a text about to be written; the identity when no secret is configured. */
export type SecretGuard = (text: string) => string;

/** Shorter values could match ordinary text; configured tokens are far longer (config hygiene checks them). */
const MIN_GUARDED_LENGTH = 8;

/**
 * The last guard before a write (store row, quarantine row, log line): every exact configured secret value,
 * and its URL-encoded, form-encoded and JSON-escaped forms, becomes SECRET_MARKER. Structural scrubbing
 * removes secrets by key; this catches a token that arrived anywhere else (a message text, a header, an
 * upstream's answer). Longest first, so no form leaves a tail of another.
 */
export function createSecretGuard(secrets: readonly string[]): SecretGuard {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < MIN_GUARDED_LENGTH) continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
    forms.add(encodeURIComponent(secret).split('%20').join('+'));
    forms.add(JSON.stringify(secret).slice(1, -1));
    forms.add(JSON.stringify(JSON.stringify(secret).slice(1, -1)).slice(1, -1));
  }
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  if (ordered.length === 0) return (text) => text;
  return (text) => {
    let guarded = text;
    for (const form of ordered) if (guarded.includes(form)) guarded = guarded.split(form).join(SECRET_MARKER);
    return guarded;
  };
}
