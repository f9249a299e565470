import type { NamedToken } from '../config/tokens';
import type { QuarantinedDelivery, Store } from '../store/types';
import { UNKNOWN_WEBHOOK, type ReleaseHow, type TokenSource } from '../vocabulary/names';
import type { DigestMatcher } from '../verify/verify';
import type { ReleaseRecorder } from './release-recorder';
import { decideReplay, releasedEvent } from './replay-decision';

export const REPLAY_OUTCOMES = [
  'released',
  'would_release',
  'already_released',
  'mismatch',
  'portal_mismatch',
  'no_token',
  'not_replayable',
] as const;
export type ReplayOutcome = (typeof REPLAY_OUTCOMES)[number];

/** What a replay did (or would do) with one quarantined delivery, and why, in words an operator reads. */
export interface ReplayItem {
  id: string;
  outcome: ReplayOutcome;
  reason: string;
  diagnosis: string | null;
  webhook?: string;
  event_id?: string;
  /** The source whose token matched no configured token (mismatch). */
  source?: TokenSource;
  why: string;
}

export interface ReplayOptions {
  sources: readonly TokenSource[];
  /** The configured tokens, for their portal bindings (a bound token releases only its portal's deliveries). */
  tokens?: readonly NamedToken[];
  match: DigestMatcher;
  apply: boolean;
  how: ReleaseHow;
  record: ReleaseRecorder;
  /** Release deliveries that carried no token too, for this operator's reason (never automatically). */
  withoutToken?: { reason: string };
}

export const WHY: Record<ReplayOutcome, string> = {
  released: 'released as an accepted event',
  would_release: 'would be released: its token matches a configured one',
  already_released: 'already released',
  mismatch: 'stays: its token matches no configured token',
  portal_mismatch: 'stays: its token is bound to another portal than it names',
  no_token: 'stays: it carried no token (only an operator can release it, with a reason)',
  not_replayable: 'stays: refused for its body, not its token',
};

/** The command line says how it releases a tokenless delivery: with its own flags. */
const NO_TOKEN_ON_THE_CLI = 'stays: it carried no token (release only with --release-without-token --reason "…")';

/** Why a delivery that `doctor --url` sent stays quarantined whatever the tokens. */
const SELF_TEST_WHY = 'stays: a self-test delivery sent by doctor --url, never released';

export function emptyTotals(): Record<ReplayOutcome, number> {
  return Object.fromEntries(REPLAY_OUTCOMES.map((outcome) => [outcome, 0])) as Record<ReplayOutcome, number>;
}

/**
 * Re-verifies one quarantined delivery against the current tokens from its stored digests, and with `apply`
 * releases it. The store decides a race: of two replicas (or a replica and the CLI) only one releases.
 */
export async function replayOne(store: Store, row: QuarantinedDelivery, options: ReplayOptions): Promise<ReplayItem> {
  const decision = decideReplay(row, options.sources, options.match, options.tokens);
  const base = { id: row.id, reason: row.reason, diagnosis: row.diagnosis };
  const webhook =
    decision.action === 'release'
      ? decision.webhook
      : decision.action === 'no_token' && options.withoutToken
        ? UNKNOWN_WEBHOOK
        : undefined;
  if (webhook === undefined) {
    const outcome: ReplayOutcome = decision.action === 'release' ? 'would_release' : decision.action;
    return {
      ...base,
      outcome,
      ...(decision.action === 'already_released' ? { event_id: decision.eventId } : {}),
      ...(decision.action === 'mismatch' ? { source: decision.source } : {}),
      why:
        decision.action === 'not_replayable' && decision.reason === 'self_test'
          ? SELF_TEST_WHY
          : outcome === 'no_token' && options.how === 'cli'
            ? NO_TOKEN_ON_THE_CLI
            : WHY[outcome],
    };
  }
  if (!options.apply) return { ...base, outcome: 'would_release', webhook, why: WHY.would_release };
  const operatorReason = decision.action === 'no_token' ? options.withoutToken!.reason.trim().slice(0, 500) : undefined;
  const note = operatorReason !== undefined ? `released without a token: ${operatorReason}` : undefined;
  const result = await store.release(row.id, releasedEvent(row, webhook, note));
  if (result.result === 'not_found')
    return { ...base, outcome: 'not_replayable', why: 'stays: it is no longer in the quarantine' };
  if (result.result === 'already_released')
    return { ...base, outcome: 'already_released', webhook, event_id: result.eventId, why: WHY.already_released };
  options.record({
    how: options.how,
    row,
    eventId: result.eventId,
    webhook,
    ...(operatorReason !== undefined ? { operatorReason } : {}),
  });
  return { ...base, outcome: 'released', webhook, event_id: result.eventId, why: WHY.released };
}
