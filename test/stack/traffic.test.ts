import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { expect } from './expect';
import { DEFAULTS } from '../../src/config/load';
import { METRIC } from '../../src/vocabulary/names';
import { SERVICE_MAIN, spawnService } from '../support/spawn-service';
import {
  DEFAULT_MIX,
  deliveryBody,
  parseMix,
  pickKind,
  readOptions,
  runTraffic,
  wrongToken,
  type DeliveryKind,
} from '../../scripts/traffic';

const TOKEN = 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas';
const TRAFFIC_JS = path.resolve(__dirname, '../../scripts/traffic.js');

/** A loopback server that records form bodies and answers `status`. */
async function recordingServer(status = 200): Promise<{ url: string; bodies: string[]; close: () => Promise<void> }> {
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(status).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/bitrix/webhook`,
    bodies,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function runCli(env: Record<string, string>): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TRAFFIC_JS], { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout });
    });
  });
}

describe('stack: scripts/traffic.ts (demo deliveries)', () => {
  describe('deliveries', () => {
    it('encodes bodies as Bitrix24 does (bracketed keys percent-encoded) with the right token or none', () => {
      const accepted = deliveryBody('accepted', TOKEN, 0);
      expect(accepted).to.include(`auth%5Bapplication_token%5D=${TOKEN}`).and.to.include('auth%5Bmember_id%5D=');
      const parsed = new URLSearchParams(accepted);
      expect(parsed.get('event')).to.match(/^ON[A-Z0-9_]+$/);
      expect(parsed.getAll('auth[application_token]')).to.deep.equal([TOKEN]);

      expect(new URLSearchParams(deliveryBody('missing', TOKEN, 1)).has('auth[application_token]')).to.equal(false);

      const wrong = new URLSearchParams(deliveryBody('mismatched', TOKEN, 2)).getAll('auth[application_token]');
      expect(wrong).to.have.length(1);
      expect(wrong[0]).to.match(/^[0-9a-z]{32}$/);
      expect(wrong[0]).to.not.equal(TOKEN);
    });

    it('makes a wrong token that differs from the real one in every character', () => {
      for (const token of [TOKEN, 'z'.repeat(32), '0123456789abcdefghijklmnopqrstuv']) {
        const wrong = wrongToken(token);
        expect(wrong).to.match(/^[0-9a-z]{32}$/);
        for (const [i, char] of [...wrong].entries()) expect(char, `position ${i}`).to.not.equal(token[i]);
      }
    });

    it('picks kinds in proportion to the mix weights', () => {
      const mix = { accepted: 2, missing: 1, mismatched: 1 };
      const picks = Array.from({ length: 400 }, (_, i) => pickKind(mix, i / 400));
      const count = (kind: DeliveryKind) => picks.filter((k) => k === kind).length;
      expect([count('accepted'), count('missing'), count('mismatched')]).to.deep.equal([200, 100, 100]);
      expect(pickKind({ accepted: 0, missing: 0, mismatched: 5 }, 0.999)).to.equal('mismatched');
    });
  });

  describe('configuration', () => {
    const base = { TRAFFIC_TARGET_URL: 'http://127.0.0.1:9/x', TRAFFIC_TOKEN: TOKEN };

    it('reads its variables, with defaults', () => {
      const options = readOptions(base);
      expect(options.ratePerSecond).to.equal(2);
      expect(options.maxRequests).to.equal(0);
      expect(options.mix).to.deep.equal(DEFAULT_MIX);
      expect(parseMix('missing=3, mismatched=1')).to.deep.equal({ accepted: 0, missing: 3, mismatched: 1 });
    });

    it('refuses a missing target, a malformed token, a bad rate or mix', () => {
      expect(() => readOptions({ TRAFFIC_TOKEN: TOKEN })).to.throw(/TRAFFIC_TARGET_URL/);
      expect(() => readOptions({ ...base, TRAFFIC_TOKEN: `${TOKEN} ` })).to.throw(/TRAFFIC_TOKEN/);
      expect(() => readOptions({ ...base, TRAFFIC_RATE_PER_SECOND: '0' })).to.throw(/RATE/);
      expect(() => readOptions({ ...base, TRAFFIC_RATE_PER_SECOND: '1000' })).to.throw(/RATE/);
      expect(() => readOptions({ ...base, TRAFFIC_MIX: 'accepted=1,bogus=2' })).to.throw(/TRAFFIC_MIX/);
      expect(() => readOptions({ ...base, TRAFFIC_MIX: 'accepted=0' })).to.throw(/TRAFFIC_MIX/);
    });
  });

  describe('the compiled script', function () {
    this.timeout(30_000);

    it('sends the requested number of deliveries to the target and stops', async () => {
      const server = await recordingServer();
      try {
        const { code, stdout } = await runCli({
          TRAFFIC_TARGET_URL: server.url,
          TRAFFIC_TOKEN: TOKEN,
          TRAFFIC_RATE_PER_SECOND: '50',
          TRAFFIC_MAX_REQUESTS: '5',
          TRAFFIC_MIX: 'accepted=1',
        });
        expect(code).to.equal(0);
        expect(server.bodies).to.have.length(5);
        const last = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
        expect({ ...last, timestamp: undefined }).to.deep.equal({
          timestamp: undefined,
          level: 'info',
          message: 'traffic stopped',
          sent: 5,
          by_kind: { accepted: 5, missing: 0, mismatched: 0 },
          by_status: { 200: 5 },
        });
        expect(stdout, 'the token is never printed').to.not.include(TOKEN);
      } finally {
        await server.close();
      }
    });

    it('stops at the first unexpected answer, says which, and exits 1 (every answer 403: a wrong token)', async () => {
      const server = await recordingServer(403);
      try {
        const { code, stdout } = await runCli({
          TRAFFIC_TARGET_URL: server.url,
          TRAFFIC_TOKEN: TOKEN,
          TRAFFIC_RATE_PER_SECOND: '50',
          TRAFFIC_MAX_REQUESTS: '5',
          TRAFFIC_MIX: 'accepted=1',
        });
        expect(code).to.equal(1);
        expect(server.bodies).to.have.length(1);
        const lines = stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .map(({ timestamp: _t, ...rest }) => rest);
        expect(lines.slice(1)).to.deep.equal([
          {
            level: 'error',
            message:
              'accepted delivery answered 403, expected 200: check TRAFFIC_TARGET_URL, TRAFFIC_TOKEN and the service',
            kind: 'accepted',
            expected: '200',
            got: '403',
            sent: 1,
          },
          {
            level: 'info',
            message: 'traffic stopped',
            sent: 1,
            by_kind: { accepted: 1, missing: 0, mismatched: 0 },
            by_status: { 403: 1 },
          },
        ]);
      } finally {
        await server.close();
      }
    });

    it('treats no answer at all as unexpected (exit 1)', async () => {
      const server = await recordingServer();
      const url = server.url;
      await server.close();
      const { code, stdout } = await runCli({
        TRAFFIC_TARGET_URL: url,
        TRAFFIC_TOKEN: TOKEN,
        TRAFFIC_MIX: 'missing=1',
      });
      expect(code).to.equal(1);
      expect(stdout).to.include('"kind":"missing","expected":"401","got":"error"');
    });

    it('exits with status 2 and says why when misconfigured', async () => {
      const { code, stdout } = await runCli({ TRAFFIC_TOKEN: TOKEN });
      expect(code).to.equal(2);
      expect(stdout).to.include('TRAFFIC_TARGET_URL');
    });
  });

  describe('against the real service', function () {
    this.timeout(60_000);

    it('gets each kind of delivery classified as intended: 200 accepted, 401 missing, 403 mismatched', async () => {
      if (!fs.existsSync(SERVICE_MAIN)) throw new Error(`the service is not built: ${SERVICE_MAIN} is missing`);
      const service = await spawnService({ env: { BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN } });
      try {
        const summary = await runTraffic({
          targetUrl: new URL(`${service.url}${DEFAULTS.webhookPath}`),
          token: TOKEN,
          ratePerSecond: 50,
          mix: { accepted: 1, missing: 1, mismatched: 1 },
          maxRequests: 30,
        });
        expect(summary.unexpected).to.equal(undefined);
        expect(summary.sent).to.equal(30);
        for (const kind of ['accepted', 'missing', 'mismatched'] as const)
          expect(summary.byKind[kind], kind).to.be.greaterThan(0);
        expect(summary.byStatus).to.deep.equal(
          Object.fromEntries(
            Object.entries({
              200: summary.byKind.accepted,
              401: summary.byKind.missing,
              403: summary.byKind.mismatched,
            }),
          ),
        );

        const metrics = await (await fetch(`${service.url}/metrics`)).text();
        for (const result of ['accepted', 'missing', 'mismatched'] as const) {
          const total = metrics
            .split('\n')
            .filter((line) => line.startsWith(`${METRIC.verifications}{`) && line.includes(`result="${result}"`))
            .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
          expect(total, `${METRIC.verifications}{result="${result}"}`).to.equal(summary.byKind[result]);
        }
      } finally {
        await service.stop();
      }
    });
  });
});
