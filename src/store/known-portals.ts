import type { Kysely } from 'kysely';
import type { Database } from './schema';
import type { PortalIdentity } from './types';

// A member_id is 32 hex characters; a domain a host name. Anything longer is not a portal worth a row.
const MAX_PART_LENGTH = 255;
/** Most portals remembered in memory; a service serves a handful, a flood of invented ones must not grow it. */
export const MAX_KNOWN_PORTALS = 10_000;

/**
 * The portals the service has accepted events from, in a table of their own and in memory. Remembering is
 * cheap: one insert (ON CONFLICT DO NOTHING) per portal per process, off the answer's path. `isKnown` reads
 * memory only; `refresh` (at start and on every retention run) picks up portals other replicas remembered.
 */
export class KnownPortals {
  private readonly known = new Set<string>();
  private loaded: Promise<void> | undefined;

  constructor(private readonly db: Kysely<Database>) {}

  isKnown(portal: PortalIdentity): boolean {
    const key = keyOf(portal);
    return key !== undefined && this.known.has(key);
  }

  /** Remembers the portal of an accepted event; resolves once it is written (never rejects). */
  async remember(portal: PortalIdentity, at: Date): Promise<void> {
    const key = keyOf(portal);
    if (key === undefined || this.known.has(key) || this.known.size >= MAX_KNOWN_PORTALS) return;
    this.known.add(key);
    try {
      await this.db
        .insertInto('known_portals')
        .values({ member_id: portal.memberId!, domain: portal.domain!.toLowerCase(), first_accepted_at: at.getTime() })
        .onConflict((conflict) => conflict.columns(['member_id', 'domain']).doNothing())
        .execute();
    } catch {
      // Kept in memory for this process; the next process tries again. The event itself is committed.
      return;
    }
  }

  /** Loads every remembered portal (written by this or another process). */
  async refresh(): Promise<void> {
    const rows = await this.db
      .selectFrom('known_portals')
      .select(['member_id', 'domain'])
      .limit(MAX_KNOWN_PORTALS)
      .execute();
    for (const row of rows) this.known.add(`${row.member_id}\n${row.domain}`);
  }

  /** The first load, once: callers may wait for it before ranking. */
  ready(): Promise<void> {
    this.loaded ??= this.refresh().catch(() => undefined);
    return this.loaded;
  }

  list(): Array<{ memberId: string; domain: string }> {
    return [...this.known].map((key) => {
      const [memberId, domain] = key.split('\n') as [string, string];
      return { memberId, domain };
    });
  }
}

function keyOf({ memberId, domain }: PortalIdentity): string | undefined {
  if (!memberId || !domain || memberId.length > MAX_PART_LENGTH || domain.length > MAX_PART_LENGTH) return undefined;
  return `${memberId}\n${domain.toLowerCase()}`;
}
