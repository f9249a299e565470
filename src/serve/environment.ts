import { readFileSync } from 'node:fs';
import { type AdminConfig, parseAdminConfig } from '../admin/config';
import { ENV } from '../vocabulary/env-names';
import { ConfigError } from '../config/errors';
import { type Config, loadConfig } from '../config/load';
import { type ForwardConfig, parseForwardConfig } from '../forward/config';
import { parseAutoReplay } from '../recover/config';
import { parseStoreConfig, parseStoreTimeouts, type StoreConfig, type StoreTimeouts } from '../store/config';
import type { Env, ReadFile } from '../config/env';

/** Everything the service reads from its environment, each part parsed by the room it configures. */
export interface ServiceEnvironment {
  config: Config;
  storeConfig: StoreConfig;
  storeTimeouts: StoreTimeouts;
  forwardConfig: ForwardConfig | undefined;
  autoReplayOn: boolean;
  adminConfig: AdminConfig;
}

/** Throws the first ConfigError met (it names the variable); nothing is started before all of it is read. */
export function readServiceEnvironment(
  env: Env,
  readFile: ReadFile = (path) => readFileSync(path, 'utf8'),
): ServiceEnvironment {
  const autoReplayOn = parseAutoReplay(env);
  const adminConfig = parseAdminConfig(env, readFile);
  const config = loadConfig(env, readFile);
  const storeConfig = parseStoreConfig(env);
  const storeTimeouts = parseStoreTimeouts(env);
  const forwardConfig = parseForwardConfig(env, readFile);
  if (forwardConfig && storeConfig.kind === 'none') {
    throw new ConfigError(
      ENV.store,
      `none keeps no event to forward; unset it or unset ${ENV.forwardUrl}/${ENV.forwardUrls}`,
    );
  }
  return { config, storeConfig, storeTimeouts, forwardConfig, autoReplayOn, adminConfig };
}
