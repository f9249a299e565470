export { parseStoreConfig, STORE_DEFAULTS, STORE_FILE_NAME, type StoreConfig } from './config';
export { openStore } from './open';
export { scrubBody, SECRET_MARKER, sha256Hex } from '../secrets/scrub';
export { HARMLESS_HEADERS } from './kysely-store';
export type * from './types';
