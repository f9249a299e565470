import { expect } from 'chai';
import { parseStoreConfig } from '../../src/store/config';

describe('store configuration', () => {
  it('defaults to SQLite under ./data with 30/7 days and a 100000-row quarantine', () => {
    expect(parseStoreConfig({})).to.deep.equal({
      kind: 'sqlite',
      dataDir: './data',
      file: 'data/bitrix24-webhook-guard.sqlite',
      quarantineRetentionDays: 30,
      eventRetentionDays: 7,
      quarantineMaxRows: 100000,
      quarantineMaxBytes: 256 * 1024 * 1024,
      quarantineMaxBodyBytes: 64 * 1024,
      quarantineWritesPerSecond: 20,
      quarantineDiskReserveBytes: 64 * 1024 * 1024,
    });
  });

  it('puts the file under DATA_DIR and reads the bounds', () => {
    expect(
      parseStoreConfig({
        DATA_DIR: '/var/lib/guard',
        QUARANTINE_RETENTION_DAYS: '90',
        EVENT_RETENTION_DAYS: '1',
        QUARANTINE_MAX_ROWS: '500',
      }),
    ).to.deep.equal({
      kind: 'sqlite',
      dataDir: '/var/lib/guard',
      file: '/var/lib/guard/bitrix24-webhook-guard.sqlite',
      quarantineRetentionDays: 90,
      eventRetentionDays: 1,
      quarantineMaxRows: 500,
      quarantineMaxBytes: 256 * 1024 * 1024,
      quarantineMaxBodyBytes: 64 * 1024,
      quarantineWritesPerSecond: 20,
      quarantineDiskReserveBytes: 64 * 1024 * 1024,
    });
  });

  it('uses PostgreSQL when DATABASE_URL is set', () => {
    expect(parseStoreConfig({ DATABASE_URL: 'postgresql://u:p@db:5432/guard', DATA_DIR: '/ignored' })).to.deep.equal({
      kind: 'postgres',
      url: 'postgresql://u:p@db:5432/guard',
      quarantineRetentionDays: 30,
      eventRetentionDays: 7,
      quarantineMaxRows: 100000,
      quarantineMaxBytes: 256 * 1024 * 1024,
      quarantineMaxBodyBytes: 64 * 1024,
      quarantineWritesPerSecond: 20,
      quarantineDiskReserveBytes: 64 * 1024 * 1024,
    });
  });

  it('reads the quarantine budgets', () => {
    expect(
      parseStoreConfig({
        QUARANTINE_MAX_BYTES: '1gb',
        QUARANTINE_MAX_BODY_BYTES: '32kb',
        QUARANTINE_WRITES_PER_SECOND: '7',
        QUARANTINE_DISK_RESERVE: '10mb',
      }),
    ).to.include({
      quarantineMaxBytes: 1024 ** 3,
      quarantineMaxBodyBytes: 32 * 1024,
      quarantineWritesPerSecond: 7,
      quarantineDiskReserveBytes: 10 * 1024 ** 2,
    });
  });

  it('keeps nothing with STORE=none (any case)', () => {
    expect(parseStoreConfig({ STORE: 'None' })).to.deep.equal({ kind: 'none' });
  });

  const refused: Array<[Record<string, string>, string]> = [
    [{ STORE: 'memory' }, 'STORE: "memory" is not a known value; use none (or leave it unset for the embedded store)'],
    [{ STORE: 'none', DATABASE_URL: 'postgres://h/d' }, 'STORE: none contradicts DATABASE_URL; set only one'],
    [{ DATABASE_URL: 'mysql://root:secret@h/d' }, 'DATABASE_URL: the scheme "mysql:" is not postgres: or postgresql:'],
    [
      { DATABASE_URL: 'not a url :secret' },
      'DATABASE_URL: is not a URL (expected postgres://user:password@host:5432/database; the value is not shown)',
    ],
    [{ QUARANTINE_RETENTION_DAYS: '0' }, 'QUARANTINE_RETENTION_DAYS: "0" must be a whole number from 1 to 36500'],
    [{ EVENT_RETENTION_DAYS: '7.5' }, 'EVENT_RETENTION_DAYS: "7.5" must be a whole number from 1 to 36500'],
    [{ QUARANTINE_MAX_ROWS: '-1' }, 'QUARANTINE_MAX_ROWS: "-1" must be a whole number from 1 to 100000000'],
    [{ QUARANTINE_MAX_BYTES: 'lots' }, 'QUARANTINE_MAX_BYTES: "lots" is not a size like 256kb or 1mb'],
    [{ QUARANTINE_MAX_BODY_BYTES: '1gb' }, 'QUARANTINE_MAX_BODY_BYTES: 1gb must be between 1b and 100mb'],
    [
      { QUARANTINE_WRITES_PER_SECOND: '0' },
      'QUARANTINE_WRITES_PER_SECOND: "0" must be a whole number from 1 to 1000000',
    ],
  ];
  for (const [env, message] of refused) {
    it(`refuses ${JSON.stringify(env)}`, () => {
      expect(() => parseStoreConfig(env))
        .to.throw(message)
        .with.property('name', 'ConfigError');
    });
  }
});
