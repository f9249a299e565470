import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { expect } from 'chai';
import { OtlpReceiver } from '../support/otlp-receiver';
import { appTest } from '../support/bitrix-bodies';
import { CLI, runCli, SERVICE_MAIN } from '../cli/run-cli';

const TOKEN = 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas';

function sha256sum(text: string): string {
  return execFileSync('sh', ['-c', 'printf %s "$T" | sha256sum'], { env: { PATH: process.env.PATH ?? '', T: text } })
    .toString('utf8')
    .slice(0, 8);
}

describe('fingerprint', () => {
  it('prints the first 8 hex characters of SHA-256 of the token on standard input, as sha256sum computes it', async () => {
    const expected = sha256sum(TOKEN);
    expect(expected).to.match(/^[0-9a-f]{8}$/);
    expect(await runCli(['fingerprint'], {}, TOKEN)).to.deep.equal({ code: 0, stdout: `${expected}\n`, stderr: '' });
    expect(await runCli(['fingerprint'], {}, `${TOKEN}\n`)).to.deep.equal({
      code: 0,
      stdout: `${expected}\n`,
      stderr: '',
    });
    expect(await runCli(['fingerprint', '--json'], {}, `${TOKEN}\n`)).to.deep.equal({
      code: 0,
      stdout: `${JSON.stringify({ fingerprint: expected })}\n`,
      stderr: '',
    });
  });

  it('trims one trailing newline only: anything else is part of what is fingerprinted', async () => {
    expect((await runCli(['fingerprint'], {}, `${TOKEN}\n\n`)).stdout).to.equal(`${sha256sum(`${TOKEN}\n`)}\n`);
    expect((await runCli(['fingerprint'], {}, ` ${TOKEN}\n`)).stdout).to.equal(`${sha256sum(` ${TOKEN}`)}\n`);
  });

  it('fails on empty input', async () => {
    expect(await runCli(['fingerprint'], {}, '\n')).to.deep.equal({
      code: 1,
      stdout: '',
      stderr:
        'fingerprint: no token on standard input (try: printf %s "$TOKEN" | bitrix24-webhook-guard fingerprint)\n',
    });
  });
});

describe('--help, unknown arguments and serve', () => {
  it('--help lists the commands and starts nothing', async () => {
    const result = await runCli(['--help']);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.match(/^Usage: bitrix24-webhook-guard \[options\] \[command\]\n/);
    for (const command of ['serve', 'doctor [options]', 'fingerprint [options]', 'help [command]']) {
      expect(result.stdout).to.include(`\n  ${command.padEnd(23)}`);
    }
    expect(result.stdout).not.to.include('listening');
  });

  it('node dist/src/main.js --help prints the same help instead of starting a server', async () => {
    const viaMain = await runCli(['--help'], {}, '', SERVICE_MAIN);
    const viaBin = await runCli(['--help']);
    expect(viaMain).to.deep.equal(viaBin);
  });

  it('every command has its own --help', async () => {
    const doctor = await runCli(['doctor', '--help']);
    expect(doctor.code).to.equal(0);
    expect(doctor.stdout).to.match(/^Usage: bitrix24-webhook-guard doctor \[options\]\n/);
    expect(doctor.stdout).to.include(
      '\n  --url <handler-url>  send self-test deliveries (ONAPPTEST) to this handler URL\n',
    );
    expect(doctor.stdout).to.include('\n  --json               print the result as JSON\n');
    expect(doctor.stdout).to.include(
      '\nExit code: 0 all checks passed, 1 a check failed, 2 the configuration is refused.\n',
    );
    const fingerprint = await runCli(['fingerprint', '--help']);
    expect(fingerprint.code).to.equal(0);
    expect(fingerprint.stdout).to.match(/^Usage: bitrix24-webhook-guard fingerprint \[options\]\n/);
    expect(fingerprint.stdout).to.include('\nExample: printf %s "$TOKEN" | bitrix24-webhook-guard fingerprint\n');
    const serve = await runCli(['serve', '--help']);
    expect(serve.code).to.equal(0);
    expect(serve.stdout).to.match(/^Usage: bitrix24-webhook-guard serve \[options\]\n/);
  });

  it('an unknown command or option exits 1 with a message, and starts no server', async () => {
    expect(await runCli(['doktor'])).to.deep.equal({
      code: 1,
      stdout: '',
      stderr:
        "error: unknown command 'doktor' (commands: serve, doctor, fingerprint, quarantine, events, store, help)\n(add --help for usage)\n",
    });
    expect(await runCli(['--port', '8080'], {}, '', SERVICE_MAIN)).to.deep.equal({
      code: 1,
      stdout: '',
      stderr: "error: unknown option '--port'\n(add --help for usage)\n",
    });
    expect(await runCli(['doctor', '--url', 'example.com/hook'])).to.deep.equal({
      code: 2,
      stdout: '',
      stderr: 'error: --url must be an http:// or https:// URL, got "example.com/hook"\n(add --help for usage)\n',
    });
  });

  /** The bin started with `args`; resolves with its URL once it logs "listening". */
  async function startBin(args: string[], env: Record<string, string>) {
    const child = spawn(process.execPath, [CLI, ...args], {
      // Its own temporary DATA_DIR: without one the service would create ./data in the repository.
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        PORT: '0',
        HOST: '127.0.0.1',
        DATA_DIR: path.join(mkdtempSync(path.join(os.tmpdir(), 'cli-serve-')), 'data'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const lines: Array<Record<string, unknown>> = [];
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" line: ${JSON.stringify(lines)}`)), 20_000);
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        lines.push(parsed);
        if (parsed.message === 'listening') {
          clearTimeout(timer);
          resolve(String(parsed.url));
        }
      });
    });
    const stop = async () => {
      child.kill('SIGTERM');
      return exited;
    };
    return { url, lines, stop };
  }

  it('serve (and no command at all) starts the real service from the bin, with its telemetry loaded before http and koa', async function () {
    this.timeout(90_000);
    const receiver = await new OtlpReceiver().start();
    const env = {
      BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_TRACES_SAMPLER: 'always_on',
      OTEL_LOGS_EXPORTER: 'none',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    try {
      for (const args of [['serve'], []]) {
        const service = await startBin(args, env);
        try {
          const ready = await fetch(`${service.url}/readyz`);
          expect(await ready.json()).to.deep.equal({
            status: 'ready',
            tokens_configured: 1,
            tokens: [{ name: 'default', fingerprint: 'ce338b01' }],
            warnings: [],
            store: { status: 'ok' },
          });
          const answer = await fetch(`${service.url}/api/bitrix/webhook`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: appTest(TOKEN),
          });
          expect(answer.status).to.equal(200);
          // The verify span's parent is the HTTP server span: http was instrumented before it was loaded.
          const verify = await receiver.waitFor(() =>
            receiver.spans.find((span) => span.name === 'bitrix.token.verify'),
          );
          const server = receiver.spans.find((span) => span.spanId === verify.parentSpanId);
          expect(server?.kind).to.equal(2);
          // The service's own server span (no koa or router span since issue #12), named by the route.
          expect(server?.name).to.equal('POST /api/bitrix/webhook');
        } finally {
          expect(await service.stop()).to.equal(0);
        }
        receiver.spans.length = 0;
      }
    } finally {
      await receiver.stop();
    }
  });
});
