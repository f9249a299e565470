// A throwaway PostgreSQL cluster for a test suite: initdb into a temporary directory, pg_ctl start on a free
// loopback port, stop and delete afterwards. Uses Debian's binaries (postgresql-15); installs them once as
// root when they are missing.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { freePort } from './loopback-http';

export interface TestPostgres {
  /** postgres://postgres@127.0.0.1:PORT/<database> */
  url(database?: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
  /** Stops the server (fast: connections are cut), leaves it down for a second, starts it again on the same port and data. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT to every process of the server: it keeps its sockets open and answers nothing. */
  pause(): void;
  resume(): void;
}

/** How long restart() leaves the server down. */
const RESTART_DOWN_MS = 1000;

const INSTALL_HINT =
  'PostgreSQL server binaries (initdb, pg_ctl) are missing: run `apt-get install -y --no-install-recommends postgresql-15` as root';

function findBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const dir = path.join(root, version, 'bin');
      if (existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'pg_ctl'))) return dir;
    }
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'pg_ctl'))) return dir;
  }
  return undefined;
}

function binDir(): string {
  const found = findBinDir();
  if (found) return found;
  if (process.getuid?.() !== 0) throw new Error(INSTALL_HINT);
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql-15'], {
      stdio: 'pipe',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (error) {
    throw new Error(`${INSTALL_HINT} (automatic install failed: ${(error as Error).message.split('\n')[0]})`);
  }
  const installed = findBinDir();
  if (!installed) throw new Error(INSTALL_HINT);
  return installed;
}

/** initdb refuses to run as root: as root, the cluster belongs to the `postgres` user (or `nobody`). */
function runAs(): { user: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
      return { user, uid, gid };
    } catch {
      // try the next one
    }
  }
  throw new Error('running as root, but neither a `postgres` nor a `nobody` user exists to own the test cluster');
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  const owner = runAs();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'store-pg-'));
  const data = path.join(dir, 'data');
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const run = (tool: string, args: string[]) => {
    const command = owner ? 'runuser' : path.join(bin, tool);
    const fullArgs = owner ? ['-u', owner.user, '--', path.join(bin, tool), ...args] : args;
    execFileSync(command, fullArgs, { cwd: dir, stdio: 'pipe', env: { ...process.env, LC_ALL: 'C' } });
  };
  const port = await freePort();
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
  const startServer = () =>
    run('pg_ctl', ['start', '-w', '-t', '60', '-D', data, '-l', path.join(dir, 'server.log'), '-o', serverOptions]);
  // The postmaster and its children (backends, checkpointer, …): pausing only the postmaster would leave
  // open connections answering.
  const serverPids = (): number[] => {
    const postmaster = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)], { encoding: 'utf8' })
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((pid) => pid > 0);
    return [postmaster, ...children];
  };
  const signalServer = (signal: NodeJS.Signals) => {
    for (const pid of serverPids()) {
      try {
        process.kill(pid, signal);
      } catch {
        // a backend that just ended
      }
    }
  };
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale', 'C']);
    startServer();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`could not start the test PostgreSQL: ${(error as Error).message.split('\n')[0]} ${stderr}`);
  }
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    url,
    async createDatabase(name: string) {
      const client = new Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async restart() {
      run('pg_ctl', ['stop', '-m', 'fast', '-w', '-D', data]);
      // Down for a while, the caller's event loop free meanwhile: whatever it sends then meets a server that
      // is not there (pg_ctl itself runs synchronously).
      await new Promise((resolve) => setTimeout(resolve, RESTART_DOWN_MS));
      startServer();
    },
    pause: () => signalServer('SIGSTOP'),
    resume: () => signalServer('SIGCONT'),
    async stop() {
      try {
        run('pg_ctl', ['stop', '-m', 'immediate', '-w', '-D', data]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
