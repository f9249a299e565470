// Tests read the fields of parsed JSON freely (`line.store.kind`); `unknown` would only add casts there.
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, read field by field by the tests
export type JsonRecord = Record<string, any>;

/** Output that must be newline-delimited JSON and nothing else (`--json` commands): any other line throws. */
export function ndjson(text: string): JsonRecord[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as JsonRecord);
}

/** The JSON lines of a process's output that mixes them with plain text (a service's log, npm's banner). */
export function jsonLines(text: string): JsonRecord[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as JsonRecord);
}
