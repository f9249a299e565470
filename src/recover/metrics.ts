import client from 'prom-client';
import { RECOVER_METRIC, RELEASE_HOWS, type ReleaseHow } from '../telemetry/names';

export interface RecoverMetrics {
  recordRelease(how: ReleaseHow): void;
}

/** The release counter, registered in the service's registry (createMetrics' `register` option). */
export function registerRecoverMetrics(registry: client.Registry): RecoverMetrics {
  const releases = new client.Counter({
    name: RECOVER_METRIC.releases,
    help: 'Quarantined deliveries released as accepted events by this process, by how (auto, cli, console).',
    labelNames: ['how'] as const,
    registers: [registry],
  });
  for (const how of RELEASE_HOWS) releases.inc({ how }, 0);
  return {
    recordRelease(how) {
      releases.inc({ how });
    },
  };
}
