import type { NamedToken } from '../config/tokens';
import type { Store } from '../store/types';
import type { Logger } from '../telemetry/logger';
import type { TokenSource } from '../vocabulary/names';
import { createDigestMatcher } from '../verify/verify';
import { allQuarantined } from './pages';
import type { ReleaseRecorder } from './release-recorder';
import { emptyTotals, replayOne } from './replay';

export interface AutoReplayDeps {
  store: Store;
  tokens: readonly NamedToken[];
  sources: readonly TokenSource[];
  logger: Logger;
  record: ReleaseRecorder;
}

/**
 * QUARANTINE_AUTO_REPLAY: releases every unreleased quarantined delivery whose stored token digest matches a
 * configured token (read where the service reads tokens), exactly once across replicas (the store decides).
 * Deliveries that carried no token, or a token that matches none, stay. Run at start-up: tokens are read
 * then, so a restart with a new token (a PaaS variable change) is when they change.
 */
export async function autoReplay({
  store,
  tokens,
  sources,
  logger,
  record,
}: AutoReplayDeps): Promise<Record<string, number>> {
  const totals = emptyTotals();
  if (tokens.length === 0 || store.kind === 'none') return totals;
  const match = createDigestMatcher(tokens);
  for await (const row of allQuarantined(store, { released: false })) {
    const item = await replayOne(store, row, { sources, tokens, match, apply: true, how: 'auto', record });
    totals[item.outcome]++;
  }
  if (totals.released + totals.already_released + totals.mismatch + totals.no_token + totals.not_replayable > 0) {
    logger.info('automatic replay of the quarantine done', { how: 'auto', ...totals });
  }
  return totals;
}
