import { expect } from 'chai';
import { freePort, LoopbackHttpServer } from '../support/loopback-http';
import { OtlpReceiver } from '../support/otlp-receiver';
import { spawnService, type RunningService } from '../support/spawn-service';
import { startProxy } from '../cli/body-stripping-proxy';
import { runCli } from '../cli/run-cli';

const TOKEN = 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas'; // fingerprint ce338b01
const OTHER = '51856fefc120afa4b628cc82d3935cce'; // fingerprint 0813e009
const PATH = '/api/bitrix/webhook';

const CONFIGURATION_LINES = [
  'Configuration (read from this environment, as the service reads it)',
  '  ok    tokens: 1 configured: default ce338b01',
  '  ok    token sources: body, query, header',
  '  ok    webhook path: /api/bitrix/webhook',
  '  ok    listen: 0.0.0.0:3000',
  '  ok    body limit: 256kb (262144 bytes)',
  '  ok    telemetry: traces: not exported; logs: not exported (set OTEL_EXPORTER_OTLP_ENDPOINT to export)',
];
const TELEMETRY = 'traces: not exported; logs: not exported (set OTEL_EXPORTER_OTLP_ENDPOINT to export)';
const TOKEN_LOST =
  'the token was lost on the way: something in front of the service dropped or rewrote the body (a proxy or ' +
  'load balancer stripping the body, a redirect turning the POST into a GET, a body parser re-encoding the form ' +
  'or changing its content type)';

/** The lines from "Self-test deliveries to …" on. */
function selfTestLines(stdout: string): string[] {
  const lines = stdout.trimEnd().split('\n');
  return lines.slice(lines.findIndex((line) => line.startsWith('Self-test deliveries to ')));
}

function expectedDeliveries(
  configured: { status: number | null; reason: string | null; likely?: string },
  none: { status: number | null; reason: string | null; likely?: string },
  wrong: { status: number | null; reason: string | null; likely?: string },
  fingerprint = 'ce338b01',
) {
  const entry = (
    base: Record<string, unknown>,
    expected: { status: number; reason: string },
    got: typeof configured,
  ) => {
    const ok = got.status === expected.status && got.reason === expected.reason;
    return {
      ...base,
      expected,
      got: { status: got.status, reason: got.reason },
      ok,
      ...(got.likely ? { likely: got.likely } : {}),
    };
  };
  return [
    entry(
      { delivery: 'configured_token', webhook: 'default', fingerprint },
      { status: 200, reason: 'accepted' },
      configured,
    ),
    entry({ delivery: 'no_token' }, { status: 401, reason: 'token_missing' }, none),
    entry({ delivery: 'wrong_token' }, { status: 403, reason: 'token_mismatch' }, wrong),
  ];
}

describe('doctor --url against the real service process', () => {
  let service: RunningService;
  let unconfigured: RunningService;
  const proxies: LoopbackHttpServer[] = [];
  before(async () => {
    [service, unconfigured] = await Promise.all([
      spawnService({ env: { BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN } }),
      spawnService({ env: {} }),
    ]);
  });
  after(async () => {
    await Promise.all([service?.stop(), unconfigured?.stop(), ...proxies.map((proxy) => proxy.stop())]);
  });
  const doctor = (url: string, token = TOKEN, json = false) =>
    runCli(['doctor', '--url', url, ...(json ? ['--json'] : [])], { BITRIX24_OUTGOING_WEBHOOK_TOKEN: token });

  it('passes against a correct deployment: 200, 401, 403 and exit 0', async () => {
    const url = `${service.url}${PATH}`;
    const result = await doctor(url);
    expect(result.stderr).to.equal('');
    expect(result.stdout).to.equal(
      `${[
        ...CONFIGURATION_LINES,
        `Self-test deliveries to ${url}`,
        '  ok    ONAPPTEST with the token "default" (ce338b01): 200 accepted',
        '  ok    ONAPPTEST with no token: 401 token_missing',
        '  ok    ONAPPTEST with a wrong token: 403 token_mismatch',
        'doctor: all checks passed',
      ].join('\n')}\n`,
    );
    expect(result.code).to.equal(0);
    expect(result.stdout).not.to.include(TOKEN);
  });

  it('--json prints the whole result, machine-readable', async () => {
    const url = `${service.url}${PATH}`;
    const result = await doctor(url, TOKEN, true);
    expect(result.code).to.equal(0);
    expect(JSON.parse(result.stdout)).to.deep.equal({
      ok: true,
      configuration: {
        tokens: [{ name: 'default', fingerprint: 'ce338b01' }],
        token_sources: ['body', 'query', 'header'],
        webhook_path: '/api/bitrix/webhook',
        listen: { host: '0.0.0.0', port: 3000 },
        body_limit: '256kb',
        body_limit_bytes: 262144,
        log_level: 'info',
        warnings: [],
        telemetry: TELEMETRY,
      },
      checks: [
        { check: 'tokens', status: 'ok', detail: '1 configured: default ce338b01' },
        { check: 'token sources', status: 'ok', detail: 'body, query, header' },
        { check: 'webhook path', status: 'ok', detail: '/api/bitrix/webhook' },
        { check: 'listen', status: 'ok', detail: '0.0.0.0:3000' },
        { check: 'body limit', status: 'ok', detail: '256kb (262144 bytes)' },
        { check: 'telemetry', status: 'ok', detail: TELEMETRY },
      ],
      self_test: {
        url,
        ok: true,
        deliveries: expectedDeliveries(
          { status: 200, reason: 'accepted' },
          { status: 401, reason: 'token_missing' },
          { status: 403, reason: 'token_mismatch' },
        ),
      },
    });
  });

  it('fails against a deployment with no token configured, naming the unset variable', async () => {
    const url = `${unconfigured.url}${PATH}`;
    const likely =
      'no token is configured on that deployment: BITRIX24_OUTGOING_WEBHOOK_TOKEN (or BITRIX24_OUTGOING_WEBHOOK_TOKEN_FILE, or BITRIX24_WEBHOOK_TOKENS) is unset there';
    const result = await doctor(url);
    expect(result.code).to.equal(1);
    expect(selfTestLines(result.stdout)).to.deep.equal([
      `Self-test deliveries to ${url}`,
      '  FAIL  ONAPPTEST with the token "default" (ce338b01): expected 200 accepted, got 503 not_configured',
      `        likely: ${likely}`,
      '  FAIL  ONAPPTEST with no token: expected 401 token_missing, got 503 not_configured',
      `        likely: ${likely}`,
      '  FAIL  ONAPPTEST with a wrong token: expected 403 token_mismatch, got 503 not_configured',
      `        likely: ${likely}`,
      'doctor: 3 checks failed',
    ]);
    const json = await doctor(url, TOKEN, true);
    expect(json.code).to.equal(1);
    const report = JSON.parse(json.stdout) as { ok: boolean; self_test: unknown };
    expect(report.ok).to.equal(false);
    const refused = { status: 503, reason: 'not_configured', likely };
    expect(report.self_test).to.deep.equal({
      url,
      ok: false,
      deliveries: expectedDeliveries(refused, refused, refused),
    });
  });

  it("fails on a token mismatch, comparing fingerprints with the deployment's /readyz", async () => {
    const url = `${service.url}${PATH}`;
    const result = await doctor(url, OTHER);
    expect(result.code).to.equal(1);
    expect(selfTestLines(result.stdout)).to.deep.equal([
      `Self-test deliveries to ${url}`,
      '  FAIL  ONAPPTEST with the token "default" (0813e009): expected 200 accepted, got 403 token_mismatch',
      "        likely: the deployment is configured with another token: this one's fingerprint is 0813e009, the deployment's /readyz lists default ce338b01",
      '  ok    ONAPPTEST with no token: 401 token_missing',
      '  ok    ONAPPTEST with a wrong token: 403 token_mismatch',
      'doctor: 1 check failed',
    ]);
    expect(result.stdout + result.stderr).not.to.include(OTHER);
  });

  it('fails when the URL itself carries the token, showing it only as its fingerprint', async () => {
    const result = await doctor(`${service.url}${PATH}?token=${TOKEN}`);
    expect(result.code).to.equal(1);
    expect(selfTestLines(result.stdout)).to.deep.equal([
      `Self-test deliveries to ${service.url}${PATH}?token=fingerprint-ce338b01`,
      '  ok    ONAPPTEST with the token "default" (ce338b01): 200 accepted',
      '  FAIL  ONAPPTEST with no token: expected 401 token_missing, got 200 accepted',
      '        likely: the URL itself carries a token (?token=), so a delivery without one in its body is accepted too; Bitrix24 sends its token in the body: leave it out of the URL',
      '  ok    ONAPPTEST with a wrong token: 403 token_mismatch',
      'doctor: 1 check failed',
    ]);
    expect(result.stdout + result.stderr).not.to.include(TOKEN);
  });

  it('fails on a wrong path', async () => {
    const url = `${service.url}/api/bitrix/hook`;
    const likely =
      "wrong path: nothing takes deliveries at /api/bitrix/hook there; the service's path is WEBHOOK_PATH (default /api/bitrix/webhook)";
    const result = await doctor(url, TOKEN, true);
    expect(result.code).to.equal(1);
    const notFound = { status: 404, reason: 'not_found', likely };
    expect((JSON.parse(result.stdout) as { self_test: unknown }).self_test).to.deep.equal({
      url,
      ok: false,
      deliveries: expectedDeliveries(notFound, notFound, notFound),
    });
    const human = await doctor(url);
    expect(human.code).to.equal(1);
    expect(selfTestLines(human.stdout)[1]).to.equal(
      '  FAIL  ONAPPTEST with the token "default" (ce338b01): expected 200 accepted, got 404 not_found',
    );
    expect(selfTestLines(human.stdout)[2]).to.equal(`        likely: ${likely}`);
  });

  it('passes through a proxy that forwards the body, and fails behind one that strips it: the token was lost on the way', async () => {
    const intact = await startProxy(service.url, false);
    const stripping = await startProxy(service.url, true);
    proxies.push(intact, stripping);
    const through = await doctor(`${intact.url}${PATH}`);
    expect(through.code).to.equal(0);
    expect(through.stdout.trimEnd().split('\n').at(-1)).to.equal('doctor: all checks passed');

    const url = `${stripping.url}${PATH}`;
    const result = await doctor(url);
    expect(result.code).to.equal(1);
    expect(selfTestLines(result.stdout)).to.deep.equal([
      `Self-test deliveries to ${url}`,
      '  FAIL  ONAPPTEST with the token "default" (ce338b01): expected 200 accepted, got 401 token_missing',
      `        likely: ${TOKEN_LOST}`,
      '  ok    ONAPPTEST with no token: 401 token_missing',
      '  FAIL  ONAPPTEST with a wrong token: expected 403 token_mismatch, got 401 token_missing',
      `        likely: ${TOKEN_LOST}`,
      'doctor: 2 checks failed',
    ]);
  });

  it('fails when something other than the guard answers 200 to everything', async () => {
    const stub = new LoopbackHttpServer((_request, _body, response) =>
      response.writeHead(200, { 'content-type': 'text/plain' }).end('OK'),
    );
    await stub.start();
    proxies.push(stub);
    const url = `${stub.url}${PATH}`;
    const result = await doctor(url);
    expect(result.code).to.equal(1);
    expect(selfTestLines(result.stdout)).to.deep.equal([
      `Self-test deliveries to ${url}`,
      '  FAIL  ONAPPTEST with the token "default" (ce338b01): expected 200 accepted, got HTTP 200',
      "        likely: HTTP 200 without the guard's answer: something other than this service answers at that URL",
      '  FAIL  ONAPPTEST with no token: expected 401 token_missing, got HTTP 200',
      '        likely: a delivery without the right token was accepted: something other than this service answers at that URL',
      '  FAIL  ONAPPTEST with a wrong token: expected 403 token_mismatch, got HTTP 200',
      '        likely: a delivery without the right token was accepted: something other than this service answers at that URL',
      'doctor: 3 checks failed',
    ]);
  });

  it('fails when nothing answers at the URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}${PATH}`;
    const result = await doctor(url);
    expect(result.code).to.equal(1);
    expect(selfTestLines(result.stdout)[1]).to.equal(
      '  FAIL  ONAPPTEST with the token "default" (ce338b01): expected 200 accepted, got no answer (ECONNREFUSED)',
    );
    expect(selfTestLines(result.stdout)[2]).to.equal(
      '        likely: the deployment does not answer (ECONNREFUSED): wrong host or port, or it is not running',
    );
  });
});

describe('doctor without --url: the configuration checklist', () => {
  it('fails with no token configured, and lists hygiene warnings without failing on them', async () => {
    const result = await runCli(['doctor'], {
      BITRIX24_OUTGOING_WEBHOOK_TOKN: TOKEN,
      BITRIX24_TOKEN_SOURCES: 'header',
    });
    expect(result.code).to.equal(1);
    expect(result.stdout).to.equal(
      `${[
        'Configuration (read from this environment, as the service reads it)',
        '  FAIL  tokens: none configured',
        '        likely: every delivery would be refused with 503 not_configured; set BITRIX24_OUTGOING_WEBHOOK_TOKEN (or BITRIX24_OUTGOING_WEBHOOK_TOKEN_FILE, or BITRIX24_WEBHOOK_TOKENS)',
        '  warn  hygiene: BITRIX24_OUTGOING_WEBHOOK_TOKN is not a variable this service reads; did you mean BITRIX24_OUTGOING_WEBHOOK_TOKEN?',
        '  warn  token sources: header',
        '        likely: Bitrix24 sends the token in the body (auth[application_token]); without body in BITRIX24_TOKEN_SOURCES its deliveries are refused',
        '  ok    webhook path: /api/bitrix/webhook',
        '  ok    listen: 0.0.0.0:3000',
        '  ok    body limit: 256kb (262144 bytes)',
        `  ok    telemetry: ${TELEMETRY}`,
        'doctor: 1 check failed',
      ].join('\n')}\n`,
    );
    expect(result.stdout).not.to.include(TOKEN);
  });

  it('passes with warnings only: exit 0', async () => {
    const result = await runCli(['doctor'], { BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN.toUpperCase() });
    expect(result.code).to.equal(0);
    expect(result.stdout).to.include(
      '\n  warn  hygiene: BITRIX24_OUTGOING_WEBHOOK_TOKEN: the token contains uppercase letters; a Bitrix24 token is 32 characters of 0-9 and a-z\n',
    );
    expect(result.stdout.trimEnd().split('\n').at(-1)).to.equal('doctor: all checks passed');
  });

  it('exits 2 with the ConfigError message on a configuration the service refuses', async () => {
    const result = await runCli(['doctor'], { PORT: 'x' });
    expect(result).to.deep.equal({
      code: 2,
      stdout: '',
      stderr: 'configuration error: PORT: "x" is not a port number (0-65535)\n',
    });
    const json = await runCli(['doctor', '--json'], { BITRIX24_WEBHOOK_TOKENS: `crm ${TOKEN}` });
    expect(json.code).to.equal(2);
    expect(JSON.parse(json.stdout)).to.deep.equal({
      ok: false,
      error: {
        variable: 'BITRIX24_WEBHOOK_TOKENS entry 1',
        message: 'BITRIX24_WEBHOOK_TOKENS entry 1: expected name=token (the token itself is not shown)',
      },
    });
    expect(json.stdout).not.to.include(TOKEN);
  });

  describe('where telemetry goes, and whether that OTLP endpoint answers', () => {
    let receiver: OtlpReceiver;
    beforeEach(async () => {
      receiver = await new OtlpReceiver().start();
    });
    afterEach(() => receiver.stop());
    const BY_OUTCOME = 'refused or failed deliveries in full, 10% of accepted ones (BITRIX24_TRACES_ACCEPTED_RATIO)';
    const otlpChecks = async (env: Record<string, string>, extra: string[] = []) => {
      const result = await runCli(['doctor', '--json', ...extra], { BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN, ...env });
      const report = JSON.parse(result.stdout) as { checks: Array<{ check: string }> };
      return {
        code: result.code,
        checks: report.checks.filter(({ check }) => check.startsWith('OTLP') || check === 'telemetry'),
      };
    };

    it('ok when the collector takes an (empty) export', async () => {
      const result = await otlpChecks({
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_LOGS_EXPORTER: 'none',
      });
      expect(result).to.deep.equal({
        code: 0,
        checks: [
          {
            check: 'telemetry',
            status: 'ok',
            detail: `traces: otlp http/json to ${receiver.url}, ${BY_OUTCOME}; logs: not exported`,
          },
          {
            check: 'OTLP traces endpoint',
            status: 'ok',
            detail: `${receiver.url}/v1/traces (http/json) answers (HTTP 200)`,
          },
        ],
      });
      expect(receiver.requests).to.deep.equal([{ path: '/v1/traces', contentType: 'application/json' }]);
    });

    it('warns when something else answers, and fails when nothing answers in time or at all', async () => {
      receiver.mode = 'fail';
      const failing = await otlpChecks({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
        OTEL_LOGS_EXPORTER: 'none',
      });
      expect(failing.code).to.equal(0);
      expect(failing.checks[1]).to.deep.equal({
        check: 'OTLP traces endpoint',
        status: 'warn',
        detail: `${receiver.url}/v1/traces (http/protobuf) answers HTTP 503 to an empty export`,
        likely: 'something answers there, but not an OTLP receiver taking this path and protocol',
      });
      receiver.mode = 'hang';
      const hanging = await otlpChecks({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, ['--timeout', '300']);
      const dropped =
        'no collector listens there: traces and logs are being dropped (check OTEL_EXPORTER_OTLP_ENDPOINT)';
      expect(hanging).to.deep.equal({
        code: 1,
        checks: [
          {
            check: 'telemetry',
            status: 'ok',
            detail: `traces: otlp http/protobuf to ${receiver.url}, ${BY_OUTCOME}; logs: otlp http/protobuf to ${receiver.url}`,
          },
          {
            check: 'OTLP traces endpoint',
            status: 'fail',
            detail: `${receiver.url}/v1/traces (http/protobuf) does not answer: no answer within 300 ms`,
            likely: dropped,
          },
          {
            check: 'OTLP logs endpoint',
            status: 'fail',
            detail: `${receiver.url}/v1/logs (http/protobuf) does not answer: no answer within 300 ms`,
            likely: dropped,
          },
        ],
      });
      const closed = `http://127.0.0.1:${await freePort()}`;
      const refused = await otlpChecks({
        OTEL_EXPORTER_OTLP_ENDPOINT: closed,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_LOGS_EXPORTER: 'none',
      });
      expect(refused.code).to.equal(1);
      expect(refused.checks[1]).to.deep.equal({
        check: 'OTLP traces endpoint',
        status: 'fail',
        detail: `${closed} (grpc) does not answer: ECONNREFUSED`,
        likely: dropped,
      });
    });
  });
});
