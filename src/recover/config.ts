import { ADMIN_ENV } from '../vocabulary/env-names';
import { ConfigError } from '../config/errors';
import type { Env } from '../config/env';

/** QUARANTINE_AUTO_REPLAY: `on` (default) or `off`. */
export function parseAutoReplay(env: Env): boolean {
  const raw = env[ADMIN_ENV.quarantineAutoReplay]?.trim().toLowerCase();
  if (raw === undefined || raw === '' || raw === 'on' || raw === 'true' || raw === '1') return true;
  if (raw === 'off' || raw === 'false' || raw === '0') return false;
  throw new ConfigError(ADMIN_ENV.quarantineAutoReplay, `${JSON.stringify(raw.slice(0, 20))} is neither on nor off`);
}
