import type client from 'prom-client';
import { zeroedCounter } from '../telemetry/families';
import { ADMIN_ACTIONS, ADMIN_METRIC, type AdminAction } from '../vocabulary/names';

export interface AdminMetrics {
  recordSignInFailure(): void;
  recordAction(action: AdminAction): void;
}

export function registerAdminMetrics(registry: client.Registry): AdminMetrics {
  const failures = zeroedCounter(
    [registry],
    ADMIN_METRIC.signInFailures,
    'Failed sign-ins to the operator console (wrong token or rate-limited).',
  );
  const actions = zeroedCounter(
    [registry],
    ADMIN_METRIC.actions,
    'Actions taken in the operator console or its API, by action (sign_in, sign_out, replay, redeliver).',
    { action: ADMIN_ACTIONS },
  );
  return {
    recordSignInFailure: () => failures.inc(),
    recordAction: (action) => actions.inc({ action }),
  };
}
