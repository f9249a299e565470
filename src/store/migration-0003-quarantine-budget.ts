import { type Migration, sql } from 'kysely';
import type { AnyDatabase } from './any-database';

/**
 * 0003: what bounding the quarantine by bytes and ranking its rows needs.
 * - `quarantine.size_bytes`: the bytes a row keeps (body, headers, candidates), summed against QUARANTINE_MAX_BYTES;
 * - `quarantine.plausible`: 1 for a delivery from a known portal carrying a Bitrix24-shaped token (evicted last);
 * - `known_portals`: the portals (member_id and domain) the service has accepted events from.
 * Idempotent like 0001: a column is added only when the table does not have it yet (SQLite has no
 * ADD COLUMN IF NOT EXISTS, and a second process may be half-way through this step).
 */
export const QUARANTINE_BUDGET_MIGRATION: Migration = {
  async up(db: AnyDatabase) {
    const tables = await db.introspection.getTables();
    const columns = new Set(
      tables.find((table) => table.name === 'quarantine')?.columns.map((column) => column.name) ?? [],
    );
    if (!columns.has('size_bytes')) {
      await db.schema
        .alterTable('quarantine')
        .addColumn('size_bytes', 'bigint', (column) => column.notNull().defaultTo(0))
        .execute();
    }
    if (!columns.has('plausible')) {
      await db.schema
        .alterTable('quarantine')
        .addColumn('plausible', 'integer', (column) => column.notNull().defaultTo(0))
        .execute();
    }
    // Rows kept before this migration: their size in characters, close enough for the budget.
    await sql`UPDATE quarantine SET size_bytes = COALESCE(LENGTH(body), 0) + LENGTH(headers) + LENGTH(header_names) + LENGTH(candidates) WHERE size_bytes = 0`.execute(
      db,
    );
    await db.schema
      .createIndex('quarantine_eviction_order')
      .ifNotExists()
      .on('quarantine')
      .columns(['plausible', 'id'])
      .execute();
    await db.schema
      .createTable('known_portals')
      .ifNotExists()
      .addColumn('member_id', 'text', (column) => column.notNull())
      .addColumn('domain', 'text', (column) => column.notNull())
      .addColumn('first_accepted_at', 'bigint', (column) => column.notNull())
      .addPrimaryKeyConstraint('known_portals_pk', ['member_id', 'domain'])
      .execute();
  },
  async down(db: AnyDatabase) {
    await db.schema.dropTable('known_portals').ifExists().execute();
    await db.schema.dropIndex('quarantine_eviction_order').ifExists().execute();
  },
};
