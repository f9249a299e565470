import client from 'prom-client';
import { ADMIN_ACTIONS, ADMIN_METRIC, type AdminAction } from '../telemetry/names';

export interface AdminMetrics {
  recordSignInFailure(): void;
  recordAction(action: AdminAction): void;
}

export function registerAdminMetrics(registry: client.Registry): AdminMetrics {
  const failures = new client.Counter({ name: ADMIN_METRIC.signInFailures, help: 'Failed sign-ins to the operator console (wrong token or rate-limited).', registers: [registry] });
  const actions = new client.Counter({
    name: ADMIN_METRIC.actions,
    help: 'Actions taken in the operator console or its API, by action (sign_in, sign_out, replay, redeliver).',
    labelNames: ['action'] as const,
    registers: [registry],
  });
  failures.inc(0);
  for (const action of ADMIN_ACTIONS) actions.inc({ action }, 0);
  return {
    recordSignInFailure: () => failures.inc(),
    recordAction: (action) => actions.inc({ action }),
  };
}
