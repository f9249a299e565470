import type { IncomingHttpHeaders } from 'node:http';

/**
 * The header `doctor --url` sends with each self-test delivery. A delivery carrying it is kept marked as a
 * self-test and never released as genuine by a replay. Bitrix24 never sends it; a client that adds it only
 * makes its own delivery unreleasable.
 */
export const SELF_TEST_HEADER = 'x-bitrix24-guard-self-test';

export function isSelfTest(headers: IncomingHttpHeaders): boolean {
  return headers[SELF_TEST_HEADER] !== undefined;
}
