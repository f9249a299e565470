import type { AnyDatabase } from './any-database';
import { type Migration, type MigrationProvider, Migrator } from 'kysely';
import { QUARANTINE_BUDGET_MIGRATION } from './migration-0003-quarantine-budget';

// One set of migrations for SQLite and PostgreSQL: only types both understand (text, integer, bigint).
// Never edit a migration that has shipped; add the next one. Every step is idempotent (IF NOT EXISTS):
// SQLite runs DDL outside a transaction here and has no migration lock between processes, so a second
// process starting at the same moment retries (see open.ts) and must be able to finish a half-done step.
const MIGRATIONS: Record<string, Migration> = {
  '0001_events_and_quarantine': {
    async up(db: AnyDatabase) {
      await db.schema
        .createTable('events')
        .ifNotExists()
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('received_at', 'bigint', (column) => column.notNull())
        .addColumn('trace_id', 'text')
        .addColumn('webhook', 'text', (column) => column.notNull())
        .addColumn('event', 'text')
        .addColumn('event_handler_id', 'text')
        .addColumn('ts', 'text')
        .addColumn('portal_domain', 'text')
        .addColumn('member_id', 'text')
        .addColumn('data', 'text', (column) => column.notNull())
        .addColumn('body', 'text')
        .addColumn('content_type', 'text')
        .addColumn('status', 'text', (column) => column.notNull())
        .addColumn('attempts', 'integer', (column) => column.notNull())
        .addColumn('next_attempt_at', 'bigint', (column) => column.notNull())
        .addColumn('lease_owner', 'text')
        .addColumn('lease_until', 'bigint')
        .addColumn('last_error', 'text')
        .addColumn('delivered_at', 'bigint')
        // Unique: a quarantined delivery becomes at most one event, even when two replays race.
        .addColumn('quarantine_id', 'text', (column) => column.unique())
        .execute();
      await db.schema
        .createIndex('events_due')
        .ifNotExists()
        .on('events')
        .columns(['status', 'next_attempt_at'])
        .execute();
      await db.schema.createIndex('events_received_at').ifNotExists().on('events').column('received_at').execute();

      await db.schema
        .createTable('quarantine')
        .ifNotExists()
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('received_at', 'bigint', (column) => column.notNull())
        .addColumn('status', 'integer', (column) => column.notNull())
        .addColumn('reason', 'text', (column) => column.notNull())
        .addColumn('diagnosis', 'text')
        .addColumn('trace_id', 'text')
        .addColumn('event', 'text')
        .addColumn('event_handler_id', 'text')
        .addColumn('ts', 'text')
        .addColumn('portal_domain', 'text')
        .addColumn('member_id', 'text')
        .addColumn('header_names', 'text', (column) => column.notNull())
        .addColumn('headers', 'text', (column) => column.notNull())
        .addColumn('body', 'text')
        .addColumn('body_truncated', 'integer', (column) => column.notNull())
        .addColumn('candidates', 'text', (column) => column.notNull())
        .addColumn('released_at', 'bigint')
        .addColumn('released_event_id', 'text', (column) => column.unique())
        .addColumn('release_note', 'text')
        .execute();
      await db.schema
        .createIndex('quarantine_received_at')
        .ifNotExists()
        .on('quarantine')
        .column('received_at')
        .execute();
    },
    async down(db: AnyDatabase) {
      await db.schema.dropTable('quarantine').execute();
      await db.schema.dropTable('events').execute();
    },
  },
  // Deliveries `doctor --url` sends are marked, so that no replay ever releases one as genuine.
  '0002_self_test_marks': {
    async up(db: AnyDatabase) {
      for (const table of ['events', 'quarantine']) {
        // SQLite has no ADD COLUMN IF NOT EXISTS: look first (a racing process retries, see open.ts).
        const tables = await db.introspection.getTables();
        if (tables.find((found) => found.name === table)?.columns.some((column) => column.name === 'self_test'))
          continue;
        await db.schema
          .alterTable(table)
          .addColumn('self_test', 'integer', (column) => column.notNull().defaultTo(0))
          .execute();
      }
    },
    async down(db: AnyDatabase) {
      for (const table of ['events', 'quarantine']) await db.schema.alterTable(table).dropColumn('self_test').execute();
    },
  },
  '0003_quarantine_budget_and_known_portals': QUARANTINE_BUDGET_MIGRATION,
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Brings the schema up to date; Kysely's migration lock makes concurrent start-ups of replicas safe. */
export async function migrate(db: AnyDatabase): Promise<void> {
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`store migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
