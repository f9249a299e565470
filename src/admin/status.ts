import type { Config } from '../config/load';
import type { ForwardConfig } from '../forward/config';
import { redactedUrl } from '../forward/worker';
import type { Check } from '../checklist/checks';
import { configurationChecks, summarize } from '../checklist/config-checks';
import type { Store } from '../store/types';
import { fingerprint } from '../verify/fingerprint';

export interface StatusDeps {
  config: Config;
  store: Store;
  storeDescription: string;
  forwardConfig: ForwardConfig | undefined;
  autoReplay: boolean;
  telemetryDescription: string;
}

export interface Status {
  ok: boolean;
  checks: Check[];
  tokens: Array<{ name: string; fingerprint: string }>;
  store: {
    kind: string;
    where: string;
    quarantine: { total: number; unreleased: number };
    events: { pending: number; delivered: number; dead: number };
  };
  forwarding: {
    enabled: boolean;
    upstreams: Record<string, string>;
    format?: string;
    pending: number;
    dead: number;
    oldest_pending_at: string | null;
  };
  auto_replay: boolean;
  last_accepted: Array<{ webhook: string; portal: string | null; received_at: string }>;
}

/** The `doctor` checklist of this running service, with what the store and forwarding say now. */
export async function readStatus(deps: StatusDeps): Promise<Status> {
  const { config, store, forwardConfig } = deps;
  const checks = configurationChecks(summarize(config));
  checks.push({ check: 'telemetry', status: 'ok', detail: deps.telemetryDescription });
  const [total, unreleased, pending, delivered, dead, lastAccepted, stats] = await Promise.all([
    store.countQuarantine(),
    store.countQuarantine({ released: false }),
    store.countEvents({ status: 'pending' }),
    store.countEvents({ status: 'delivered' }),
    store.countEvents({ status: 'dead' }),
    store.lastAccepted(),
    store.forwardStats(),
  ]);
  checks.push(
    store.kind === 'none'
      ? {
          check: 'store',
          status: 'warn',
          detail: 'STORE=none: nothing is kept',
          likely: 'refused deliveries cannot be replayed',
        }
      : {
          check: 'store',
          status: 'ok',
          detail: `${deps.storeDescription}: ${unreleased} quarantined awaiting replay, ${pending} pending, ${dead} dead`,
        },
  );
  if (!forwardConfig)
    checks.push({ check: 'forwarding', status: 'ok', detail: 'off: accepted events stay in the store' });
  else if (stats.dead > 0)
    checks.push({
      check: 'forwarding',
      status: 'warn',
      detail: `${stats.dead} dead letters`,
      likely: 'the application refused them or was unreachable; fix it, then redeliver',
    });
  else checks.push({ check: 'forwarding', status: 'ok', detail: `${stats.pending} pending` });
  const upstreams: Record<string, string> = {};
  if (forwardConfig?.defaultUrl) upstreams['*'] = redactedUrl(new URL(forwardConfig.defaultUrl));
  for (const [name, url] of forwardConfig?.urls ?? []) upstreams[name] = redactedUrl(new URL(url));
  return {
    ok: checks.every((check) => check.status !== 'fail'),
    checks,
    tokens: config.tokens.map(({ name, token }) => ({ name, fingerprint: fingerprint(token) })),
    store: {
      kind: store.kind,
      where: deps.storeDescription,
      quarantine: { total, unreleased },
      events: { pending, delivered, dead },
    },
    forwarding: {
      enabled: forwardConfig !== undefined,
      upstreams,
      ...(forwardConfig ? { format: forwardConfig.format } : {}),
      pending: stats.pending,
      dead: stats.dead,
      oldest_pending_at: stats.oldestPendingAt?.toISOString() ?? null,
    },
    auto_replay: deps.autoReplay,
    last_accepted: lastAccepted.map((row) => ({
      webhook: row.webhook,
      portal: row.portal,
      received_at: row.receivedAt.toISOString(),
    })),
  };
}
