// The SQLite driver on the Node running the test: the statement contract Kysely relies on, plain rows,
// read-only files, the busy wait better-sqlite3 has by default, and which library (if any native addon) loads.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { openSqliteDatabase, SQLITE_LIBRARY, sqliteLibraryFor, type SqliteFile } from '../../src/store/sqlite-driver';

describe('SQLite driver', () => {
  let dir: string;
  let file: string;
  const opened: SqliteFile[] = [];
  const open = (options?: { readonly?: boolean }) => {
    const database = openSqliteDatabase(file, options);
    opened.push(database);
    return database;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sqlite-driver-'));
    file = path.join(dir, 'test.sqlite');
  });
  afterEach(() => {
    for (const database of opened.splice(0)) {
      try {
        database.close();
      } catch {
        // already closed by the test
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('picks node:sqlite from Node 22.16, 23.11 and 24, better-sqlite3 before', () => {
    expect(['v20.20.2', '22.15.1', '23.10.0'].map(sqliteLibraryFor)).to.deep.equal([
      'better-sqlite3',
      'better-sqlite3',
      'better-sqlite3',
    ]);
    expect(['22.16.0', '23.11.0', 'v24.21.0', '26.0.0'].map(sqliteLibraryFor)).to.deep.equal([
      'node:sqlite',
      'node:sqlite',
      'node:sqlite',
      'node:sqlite',
    ]);
    expect(SQLITE_LIBRARY).to.equal(sqliteLibraryFor(process.versions.node));
  });

  it('loads the native better-sqlite3 addon only where node:sqlite is missing', () => {
    open().exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    const loaded = Object.keys(require.cache).some((key) => key.includes(`${path.sep}better-sqlite3${path.sep}`));
    expect(loaded).to.equal(SQLITE_LIBRARY === 'better-sqlite3');
  });

  it('gives Kysely reader statements, run results, iteration and plain rows, parameters as one array', () => {
    const database = open();
    database.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, size INTEGER)');
    const insert = database.prepare('INSERT INTO t (name, size) VALUES (?, ?)');
    expect(insert.reader).to.equal(false);
    expect(insert.run(['a', 1])).to.deep.equal({ changes: 1, lastInsertRowid: 1 });
    expect(insert.run(['b', null])).to.deep.equal({ changes: 1, lastInsertRowid: 2 });
    const returning = database.prepare('INSERT INTO t (name, size) VALUES (?, ?) RETURNING id');
    expect(returning.reader).to.equal(true);
    expect(returning.all(['c', 3])).to.deep.equal([{ id: 3 }]);
    const select = database.prepare('SELECT id, name, size FROM t WHERE id >= ? ORDER BY id');
    expect(select.reader).to.equal(true);
    const rows = select.all([2]);
    expect(rows).to.deep.equal([
      { id: 2, name: 'b', size: null },
      { id: 3, name: 'c', size: 3 },
    ]);
    expect(Object.getPrototypeOf(rows[0])).to.equal(Object.prototype);
    expect([...select.iterate([1])].map((row) => (row as { name: string }).name)).to.deep.equal(['a', 'b', 'c']);
    expect(database.prepare('SELECT name FROM t WHERE id = ?').get(1)).to.deep.equal({ name: 'a' });
    expect(database.prepare('SELECT name FROM t WHERE id = ?').get(99)).to.equal(undefined);
    expect(database.prepare('UPDATE t SET size = 0').run([])).to.deep.include({ changes: 3 });
  });

  it('opens a file read-only when asked: reads work, writes fail', () => {
    open().exec('CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t DEFAULT VALUES;');
    const readonly = open({ readonly: true });
    expect(readonly.prepare('SELECT count(*) AS n FROM t').all([])).to.deep.equal([{ n: 1 }]);
    expect(() => readonly.exec('INSERT INTO t DEFAULT VALUES')).to.throw(/readonly|read-only/i);
  });

  it("waits for another connection's write lock (busy timeout) instead of failing at once, as better-sqlite3 does", () => {
    const writer = open();
    writer.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY);');
    const other = open();
    writer.exec('BEGIN IMMEDIATE');
    // The lock is held for the whole synchronous call below, so the other connection must time out: after
    // waiting (about 5 s), not at once. The wait itself is what tells the two apart.
    const started = process.hrtime.bigint();
    expect(() => other.exec('INSERT INTO t DEFAULT VALUES')).to.throw(/locked|busy/i);
    const waitedMs = Number(process.hrtime.bigint() - started) / 1e6;
    writer.exec('ROLLBACK');
    expect(waitedMs).to.be.greaterThan(1000);
    other.exec('INSERT INTO t DEFAULT VALUES');
    expect(writer.prepare('SELECT count(*) AS n FROM t').all([])).to.deep.equal([{ n: 1 }]);
  });
});
