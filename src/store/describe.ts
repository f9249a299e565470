import { ENV } from '../vocabulary/env-names';
import type { StoreConfig } from './config';

/** Where the store is, without a secret (a DATABASE_URL may hold a user and password: neither is shown). */
export function describeStore(storeConfig: StoreConfig): string {
  if (storeConfig.kind === 'none') return `${ENV.store}=none`;
  if (storeConfig.kind === 'sqlite') return `SQLite file ${storeConfig.file}`;
  try {
    const url = new URL(storeConfig.url);
    return `PostgreSQL at ${url.hostname}${url.port ? `:${url.port}` : ''}${url.pathname}`;
  } catch {
    return 'PostgreSQL';
  }
}
