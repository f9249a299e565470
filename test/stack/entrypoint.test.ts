// The image's entrypoint (docker/entrypoint.sh), run for real: as root against a root-owned "volume" (what
// Railway mounts) it hands DATA_DIR to the service user and drops to it; as that user on a directory it cannot
// write it refuses with what to do. There is no `node` user on the test machine: the copy runs as `nobody`.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from './expect';
import { repoPath } from './repo';

const SERVICE_USER = 'nobody';

function userIds(name: string): { uid: number; gid: number } {
  const result = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  return { uid: Number(result.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

describe('stack: the image entrypoint', function () {
  this.timeout(60_000);
  let dir: string;
  let entrypoint: string;
  const service = userIds(SERVICE_USER);

  before(() => {
    if (process.getuid?.() !== 0)
      throw new Error('these tests run the entrypoint as root, as the image does: run the full tier as root');
    // The service user runs this Node and loads the repository's driver: both must be reachable by it (a 0700
    // mktemp directory on the way is not). Said here, once, instead of as a confusing "Permission denied" below.
    const driver = repoPath('dist/src/store/sqlite-driver.js');
    const reach = spawnSync('setpriv', [
      `--reuid=${SERVICE_USER}`,
      `--regid=${service.gid}`,
      '--clear-groups',
      '--',
      'sh',
      '-c',
      'test -x "$1" && test -r "$2"',
      'sh',
      process.execPath,
      driver,
    ]);
    if (reach.status !== 0)
      throw new Error(
        `the service user '${SERVICE_USER}' cannot run ${process.execPath} or read ${driver}: make every directory on those paths traversable (chmod o+x)`,
      );
  });
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'entrypoint-'));
    chmodSync(dir, 0o755); // like /app: the mount's parent can be traversed by everyone
    entrypoint = path.join(dir, 'entrypoint.sh');
    writeFileSync(
      entrypoint,
      readFileSync(repoPath('docker/entrypoint.sh'), 'utf8').replace(/^run_as=node$/m, `run_as=${SERVICE_USER}`),
      { mode: 0o755 },
    );
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const run = (env: Record<string, string>, command: string[], asUser?: string) => {
    const argv = asUser
      ? [
          'setpriv',
          `--reuid=${asUser}`,
          `--regid=${userIds(asUser).gid}`,
          '--clear-groups',
          '--',
          entrypoint,
          ...command,
        ]
      : [entrypoint, ...command];
    return spawnSync(argv[0]!, argv.slice(1), {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 30_000,
    });
  };
  // What the service does first with its store: create the SQLite file and write to it (through its own driver).
  const openStoreScript =
    `const d=require(${JSON.stringify(repoPath('dist/src/store/sqlite-driver.js'))}).openSqliteDatabase(process.env.DATA_DIR+'/store.sqlite');` +
    `d.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER)');d.close();console.log(process.getuid())`;

  it('as root, gives a root-owned volume (and root-owned files in it) to the service user, then runs the command as that user', () => {
    const volume = path.join(dir, 'data');
    mkdirSync(volume, { mode: 0o755 });
    writeFileSync(path.join(volume, 'left-by-root'), 'x');
    expect(statSync(volume).uid).to.equal(0);
    const result = run({ DATA_DIR: volume }, [process.execPath, '-e', openStoreScript]);
    expect(result.stderr).to.equal('');
    expect(result.status).to.equal(0);
    expect(result.stdout.trim()).to.equal(String(service.uid));
    for (const file of ['', 'left-by-root', 'store.sqlite'])
      expect(statSync(path.join(volume, file)).uid, file || 'DATA_DIR').to.equal(service.uid);
  });

  it('as root, creates a missing DATA_DIR; with DATABASE_URL it leaves the directory alone', () => {
    const missing = path.join(dir, 'new', 'data');
    expect(run({ DATA_DIR: missing }, ['true']).status).to.equal(0);
    expect(statSync(missing).uid).to.equal(service.uid);
    const untouched = path.join(dir, 'untouched');
    expect(run({ DATA_DIR: untouched, DATABASE_URL: 'postgres://u@127.0.0.1/db' }, ['true']).status).to.equal(0);
    expect(() => statSync(untouched)).to.throw(/ENOENT/);
  });

  it('as the service user on a directory it cannot write, exits 1 and says exactly what to do', () => {
    const volume = path.join(dir, 'data');
    mkdirSync(volume, { mode: 0o755 });
    const result = run({ DATA_DIR: volume }, ['true'], SERVICE_USER);
    expect(result.status).to.equal(1);
    expect(result.stdout).to.equal('');
    expect(result.stderr).to.equal(
      `bitrix24-webhook-guard: DATA_DIR=${volume} is not writable by uid ${service.uid}; the SQLite store cannot be kept there.\n` +
        `Do one of: start the container as root (the image's default: it gives the directory to '${SERVICE_USER}' and drops to it),\n` +
        `or make the volume writable by uid ${service.uid} (e.g. Kubernetes securityContext.fsGroup: ${service.gid}), or set DATABASE_URL (PostgreSQL).\n`,
    );
  });

  it('as the service user, runs the command when DATA_DIR is writable, or when the store is PostgreSQL', () => {
    const volume = path.join(dir, 'data');
    mkdirSync(volume, { mode: 0o755 });
    expect(
      run(
        { DATA_DIR: volume, DATABASE_URL: 'postgres://u@127.0.0.1/db' },
        ['sh', '-c', 'id -u'],
        SERVICE_USER,
      ).stdout.trim(),
    ).to.equal(String(service.uid));
    chmodSync(volume, 0o777);
    const result = run({ DATA_DIR: volume }, [process.execPath, '-e', openStoreScript], SERVICE_USER);
    expect(result.stderr).to.equal('');
    expect(result.stdout.trim()).to.equal(String(service.uid));
  });
});
