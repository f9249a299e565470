import { allQuarantined } from '../recover/pages';
import { emptyTotals, replayOne, type ReplayItem } from '../recover/replay';
import { createDigestMatcher } from '../verify/verify';
import type { AdminDeps } from './deps';

export const MAX_IDS = 1000;

export interface ReplayAnswer {
  apply: boolean;
  released: ReplayItem[];
  skipped: ReplayItem[];
  summary: Record<string, number>;
}

/** Dry run or apply over the given quarantined deliveries (or every unreleased one), logged when applied. */
export async function replayAction(
  deps: AdminDeps,
  apply: boolean,
  ids: readonly string[] | undefined,
  client: string,
): Promise<ReplayAnswer> {
  const { store, config } = deps;
  const match = createDigestMatcher(config.tokens);
  const options = {
    sources: config.sources,
    tokens: config.tokens,
    match,
    apply,
    how: 'console' as const,
    record: deps.record,
  };
  const summary = emptyTotals();
  const released: ReplayItem[] = [];
  const skipped: ReplayItem[] = [];
  const rows = ids === undefined ? allQuarantined(store, { released: false }, 10_000) : byIds(deps, ids);
  for await (const row of rows) {
    const item = await replayOne(store, row, options);
    summary[item.outcome]++;
    (item.outcome === 'released' || item.outcome === 'would_release' ? released : skipped).push(item);
  }
  if (apply) {
    deps.metrics?.recordAction('replay');
    deps.logger.info('admin action: quarantine replay', {
      action: 'replay',
      client,
      apply,
      ...summary,
      releases: released.map((item) => ({ quarantine_id: item.id, event_id: item.event_id })),
    });
  }
  return { apply, released, skipped, summary };
}

async function* byIds(deps: AdminDeps, ids: readonly string[]) {
  for (const id of new Set(ids)) {
    const row = await deps.store.getQuarantined(id);
    if (row) yield row;
  }
}

export async function redeliverAction(
  deps: AdminDeps,
  target: readonly string[] | 'all-dead',
  client: string,
): Promise<string[]> {
  const reset = await deps.store.redeliver(target);
  deps.metrics?.recordAction('redeliver');
  deps.logger.info('admin action: dead letters redelivered', {
    action: 'redeliver',
    client,
    requested: target === 'all-dead' ? 'all_dead' : target.length,
    reset,
  });
  return reset;
}

/** Ids as the API takes them: strings of the store's id alphabet, bounded in count and length. */
export function validIds(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.length > MAX_IDS) return undefined;
  if (!value.every((id) => typeof id === 'string' && /^[0-9A-Za-z_-]{1,64}$/.test(id))) return undefined;
  return value as string[];
}
