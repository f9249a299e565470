import type client from 'prom-client';
import { zeroedCounter } from '../telemetry/families';
import { RECOVER_METRIC, RELEASE_HOWS, type ReleaseHow } from '../vocabulary/names';

export interface RecoverMetrics {
  recordRelease(how: ReleaseHow): void;
}

/** The release counter, registered in the service's registry (createMetrics' `register` option). */
export function registerRecoverMetrics(registry: client.Registry): RecoverMetrics {
  const releases = zeroedCounter(
    [registry],
    RECOVER_METRIC.releases,
    'Quarantined deliveries released as accepted events by this process, by how (auto, cli, console).',
    { how: RELEASE_HOWS },
  );
  return { recordRelease: (how) => releases.inc({ how }) };
}
