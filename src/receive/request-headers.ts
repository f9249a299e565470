import type { IncomingMessage } from 'node:http';

// Node's `req.headersDistinct` builds an object of arrays of every header on first use; the hot path reads two
// headers, so it scans `rawHeaders` (name, value, name, value, ...) for those two instead. Every value is kept:
// a repeated header stays visible as an array of two or more (extract.ts refuses it as `repeated`).

const TOKEN_HEADERS = ['x-bitrix24-token', 'authorization'] as const;

/** Every value of the headers that may carry a token, in the shape of `headersDistinct` (absent when not sent). */
export function tokenHeaders(rawHeaders: readonly string[]): Record<string, string[] | undefined> {
  const found: Record<string, string[] | undefined> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    // Lower-case only names of the right length: most headers are skipped on a length check.
    for (const wanted of TOKEN_HEADERS) {
      if (name.length !== wanted.length || name.toLowerCase() !== wanted) continue;
      const values = found[wanted] ?? [];
      values.push(rawHeaders[i + 1]!);
      found[wanted] = values;
    }
  }
  return found;
}

/** The names of the request's headers, lower-cased, each once, in the order they first arrived. */
export function headerNames(req: IncomingMessage): string[] {
  const names = new Set<string>();
  for (let i = 0; i < req.rawHeaders.length; i += 2) names.add(req.rawHeaders[i]!.toLowerCase());
  return [...names];
}
