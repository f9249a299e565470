import type { Kysely } from 'kysely';

/**
 * The database as a migration sees it: as it is at that step, not as the current schema types say (Kysely's
 * own convention for migrations).
 */
// biome-ignore lint/suspicious/noExplicitAny: a migration runs against every past schema, not the current one
export type AnyDatabase = Kysely<any>;
