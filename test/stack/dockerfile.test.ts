import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from './expect';
import { readText, repoPath } from './repo';

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

/** Dockerfile instructions grouped by stage (continuation lines joined, comments dropped). */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!current && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (keyword.toUpperCase() === 'FROM') {
      const [image = '', as, name] = args.split(/\s+/).filter((part) => !part.startsWith('--platform'));
      stages.push({ image, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

const all = (stage: Stage, keyword: string) =>
  stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);

/** The exec-form array of `CMD [...]` or `HEALTHCHECK … CMD [...]`. */
function execForm(args: string): string[] {
  const json = args.slice(args.indexOf('['));
  return JSON.parse(json) as string[];
}

function runProbe(argv: string[], port: number | undefined): Promise<number | null> {
  const [command, ...rest] = argv;
  expect(command).to.equal('node');
  const env = { ...process.env, PORT: port === undefined ? '1' : String(port) };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, rest, { env, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

async function withServer(status: number, fn: (port: number, seen: string[]) => Promise<void>): Promise<void> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    res.writeHead(status).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn((server.address() as AddressInfo).port, seen);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('stack: Dockerfile', () => {
  let stages: Stage[];
  let runtime: Stage;
  before(() => {
    stages = parseDockerfile(readText('Dockerfile'));
    runtime = stages.at(-1)!;
  });

  it('is multi-stage, on an exact Node.js LTS (even major >= 24) image in every stage', () => {
    expect(stages.length).to.be.at.least(2);
    for (const stage of stages) {
      const match = /^node:(\d+)\.\d+\.\d+-[a-z0-9.-]+(@sha256:[0-9a-f]{64})?$/.exec(stage.image);
      expect(match, `FROM ${stage.image} is not pinned to an exact node release`).to.not.equal(null);
      const major = Number(match![1]);
      expect(major % 2 === 0 && major >= 24, `node ${major} is not a current LTS line`).to.equal(true);
    }
  });

  it('builds with all dependencies and ships production dependencies only', () => {
    const copiedFrom = all(runtime, 'COPY')
      .map((args) => /--from=(\S+)/.exec(args)?.[1])
      .filter(Boolean);
    expect(copiedFrom, 'the runtime stage copies the build output from a build stage').to.not.be.empty;
    const build = stages.find((stage) => stage.name === copiedFrom[0])!;
    expect(build, `stage ${copiedFrom[0]}`).to.exist;
    expect(all(build, 'RUN').join('\n'))
      .to.match(/\bnpm ci(?!\s+--omit)/)
      .and.to.include('npm run build');
    const runtimeRuns = all(runtime, 'RUN').join('\n');
    expect(runtimeRuns).to.include('npm ci --omit=dev --omit=optional'); // Node 24: node:sqlite, no native better-sqlite3
    expect(runtimeRuns).to.not.include('npm run build');
    for (const args of all(runtime, 'COPY').filter((a) => a.includes('--from='))) {
      expect(args, 'the runtime stage copies compiled output, never sources or node_modules').to.match(/\/app\/dist\//);
    }
  });

  it('keeps the store in /app/data without a VOLUME line (Railway refuses one; the platform mounts the volume)', () => {
    expect(all(runtime, 'ENV')).to.include('DATA_DIR=/app/data');
    expect(all(runtime, 'VOLUME')).to.deep.equal([]);
    expect(all(runtime, 'RUN').join('\n')).to.include('mkdir -p /app/data && chown node:node /app/data');
  });

  it('runs the service as the non-root `node` user: the entrypoint prepares DATA_DIR as root, then drops with setpriv', () => {
    expect(all(runtime, 'USER').filter((user) => !/^(root|0)(:|$)/.test(user))).to.deep.equal([]);
    expect(execForm(all(runtime, 'ENTRYPOINT').at(-1) ?? '')).to.deep.equal(['/app/docker/entrypoint.sh']);
    const entrypoint = readText('docker/entrypoint.sh');
    expect(entrypoint).to.match(/^run_as=node$/m);
    expect(entrypoint).to.include('exec setpriv --reuid="$run_as" --regid="$(id -g "$run_as")" --clear-groups -- "$@"');
    expect(fs.statSync(repoPath('docker/entrypoint.sh')).mode & 0o111).to.equal(0o111);
  });

  it('puts the CLI on PATH as bitrix24-webhook-guard, run through the entrypoint', () => {
    expect(all(runtime, 'COPY')).to.include('docker/entrypoint.sh docker/bitrix24-webhook-guard /app/docker/');
    expect(all(runtime, 'RUN').join('\n')).to.include(
      'ln -s /app/docker/bitrix24-webhook-guard /usr/local/bin/bitrix24-webhook-guard',
    );
    expect(readText('docker/bitrix24-webhook-guard')).to.include(
      'exec /app/docker/entrypoint.sh node /app/dist/src/cli/index.js "$@"',
    );
    expect(fs.statSync(repoPath('docker/bitrix24-webhook-guard')).mode & 0o111).to.equal(0o111);
  });

  it('starts the service exactly as `npm start` does, with the OpenTelemetry preload', () => {
    const cmd = execForm(all(runtime, 'CMD').at(-1) ?? '');
    expect(cmd).to.deep.equal(['node', '--require', './dist/src/telemetry/preload.js', 'dist/src/main.js']);
    const start = (JSON.parse(readText('package.json')) as { scripts: { start: string } }).scripts.start;
    expect(start.split('&&').at(-1)!.trim()).to.equal(cmd.join(' '));
  });

  it('starts files that the TypeScript build produces', () => {
    for (const file of ['dist/src/main.js', 'dist/src/telemetry/preload.js', 'dist/scripts/traffic.js']) {
      expect(
        fs.existsSync(repoPath(file)),
        `${file} (built by tsc from ${file.replace(/^dist\//, '').replace(/\.js$/, '.ts')})`,
      ).to.equal(true);
    }
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    const ignored = new Set(
      readText('.dockerignore')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#')),
    );
    expect([...ignored]).to.include.members(['node_modules', 'dist', '.git']);
    for (const stage of stages) {
      for (const args of all(stage, 'COPY').filter((a) => !a.includes('--from='))) {
        const parts = args.split(/\s+/).filter((p) => !p.startsWith('--'));
        for (const source of parts.slice(0, -1)) {
          expect(fs.existsSync(repoPath(source)), `COPY ${source}`).to.equal(true);
          expect(ignored.has(source.replace(/\/$/, '')), `COPY ${source} is excluded by .dockerignore`).to.equal(false);
        }
      }
    }
  });

  it('gives `npm run build` every folder tsconfig.json compiles', () => {
    const tsconfig = JSON.parse(readText('tsconfig.json')) as { include: string[] };
    const roots = [...new Set(tsconfig.include.map((pattern) => pattern.split('/')[0]!))];
    const ignored = new Set(
      readText('.dockerignore')
        .split('\n')
        .map((l) => l.trim()),
    );
    const build = stages.find((stage) => all(stage, 'RUN').some((run) => run.includes('npm run build')))!;
    const copied = all(build, 'COPY')
      .filter((a) => !a.includes('--from='))
      .flatMap((a) => a.split(/\s+/).slice(0, -1));
    for (const root of roots) {
      expect(
        copied.map((source) => source.replace(/\/$/, '')),
        `the build stage copies ${root}/`,
      ).to.include(root);
      expect(ignored.has(root), `.dockerignore excludes ${root}/`).to.equal(false);
    }
  });

  describe('HEALTHCHECK', () => {
    let probe: string[];
    before(() => {
      const healthchecks = all(runtime, 'HEALTHCHECK');
      expect(healthchecks, 'HEALTHCHECK in the final stage').to.have.length(1);
      probe = execForm(healthchecks[0]!);
    });

    it('probes /healthz and succeeds on 200', async function () {
      this.timeout(20_000);
      await withServer(200, async (port, seen) => {
        expect(await runProbe(probe, port)).to.equal(0);
        expect(seen).to.deep.equal(['/healthz']);
      });
    });

    it('fails on any other answer and when nothing listens', async function () {
      this.timeout(20_000);
      await withServer(503, async (port) => {
        expect(await runProbe(probe, port)).to.equal(1);
      });
      expect(await runProbe(probe, undefined)).to.equal(1);
    });
  });
});
