// A real Prometheus scrapes the running service and evaluates the generated rules: missing-token deliveries
// at 1 per second make BitrixWebhookTokenMissingSpike pending within 60 s, accepted deliveries clear it.
import { expect } from 'chai';
import { SCRAPE_JOB } from '../../src/monitoring/constants';
import { EXEMPLAR_TRACE_ID_LABEL, METRIC } from '../../src/vocabulary/names';
import type { OtlpReceiver } from '../support/otlp-receiver';
import { spawnService, type RunningService } from '../support/spawn-service';
import { traceReceiver } from '../support/trace-receiver';
import { BODY, deliver, TOKEN } from './support/deliveries';
import { sleep, startPrometheus, type PrometheusServer } from './support/prometheus-server';
import { needsTools, repoPath } from './support/tools';

const ALERT = 'BitrixWebhookTokenMissingSpike';
const PENDING_WITHIN_MS = 60_000;
const CLEARED_WITHIN_MS = 60_000;

describe('generated rules in a real Prometheus scraping the running service', function () {
  needsTools();
  this.timeout(240_000);
  let service: RunningService | undefined;
  let prometheus: PrometheusServer | undefined;
  let stopped = false;

  let receiver: OtlpReceiver | undefined;

  before(async () => {
    // Exemplars carry the ids of exported traces only: the service exports its traces, as deployed.
    const traces = await traceReceiver();
    receiver = traces.receiver;
    service = await spawnService({ env: { BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN, ...traces.env } });
    prometheus = await startPrometheus({
      job: SCRAPE_JOB,
      target: `127.0.0.1:${service.port}`,
      ruleFile: repoPath('prometheus/rules/bitrix-webhook.rules.yml'),
    });
    const deadline = Date.now() + 20_000;
    while ((await prometheus.query(`up{job="${SCRAPE_JOB}"} == 1`)).length === 0) {
      if (Date.now() > deadline) throw new Error(`target never came up:\n${prometheus.output()}`);
      await sleep(250);
    }
  });

  after(async () => {
    stopped = true;
    await prometheus?.stop();
    await service?.stop();
    await receiver?.stop();
  });

  const stateOf = async (name: string) =>
    (await prometheus!.alerts()).find((alert) => alert.labels.alertname === name)?.state;

  /** Sends one delivery every `intervalMs` until told to stop; returns how many it sent and their answers. */
  function stream(body: string, intervalMs: number) {
    const answers: number[] = [];
    let running = true;
    const done = (async () => {
      while (running && !stopped) {
        const started = Date.now();
        answers.push(await deliver(service!.url, { body }));
        await sleep(Math.max(0, intervalMs - (Date.now() - started)));
      }
    })();
    return {
      answers,
      stop: async () => {
        running = false;
        await done;
      },
    };
  }

  it(`${ALERT} becomes pending within 60 s of missing-token deliveries at 1/s, and accepted deliveries clear it`, async () => {
    expect(await stateOf(ALERT), 'before any delivery').to.equal(undefined);

    const missing = stream(BODY.missing, 1000);
    const started = Date.now();
    let state: string | undefined;
    try {
      while (Date.now() - started < PENDING_WITHIN_MS) {
        state = await stateOf(ALERT);
        if (state !== undefined) break;
        await sleep(500);
      }
    } finally {
      await missing.stop();
    }
    const pendingAfterMs = Date.now() - started;
    console.log(
      `      ${ALERT} ${state ?? 'inactive'} after ${(pendingAfterMs / 1000).toFixed(1)} s and ${missing.answers.length} missing-token deliveries`,
    );
    expect(
      missing.answers.every((status) => status === 401),
      `answers ${missing.answers.join(',')}`,
    ).to.equal(true);
    // Its `for` is 2m: within the first 60 s the only right state is pending (firing would mean `for` was lost).
    expect(state, `state after ${pendingAfterMs} ms`).to.equal('pending');
    expect(pendingAfterMs).to.be.below(PENDING_WITHIN_MS);

    const accepted = stream(BODY.accepted, 50);
    const recovering = Date.now();
    try {
      while (Date.now() - recovering < CLEARED_WITHIN_MS) {
        state = await stateOf(ALERT);
        if (state === undefined) break;
        await sleep(500);
      }
    } finally {
      await accepted.stop();
    }
    console.log(
      `      ${ALERT} cleared after ${((Date.now() - recovering) / 1000).toFixed(1)} s and ${accepted.answers.length} accepted deliveries`,
    );
    expect(accepted.answers.every((status) => status === 200)).to.equal(true);
    expect(state, 'state after accepted deliveries').to.equal(undefined);
  });

  it('stores the trace_id exemplars the service writes, on the verification counter and the duration histogram', async () => {
    for (const metric of [`${METRIC.verifications}{result="missing"}`, `${METRIC.httpRequestDuration}_bucket`]) {
      const series = await prometheus!.exemplars(metric, 600);
      const exemplars = series.flatMap((entry) => entry.exemplars);
      expect(exemplars.length, `exemplars of ${metric}`).to.be.greaterThan(0);
      for (const exemplar of exemplars) expect(exemplar.labels[EXEMPLAR_TRACE_ID_LABEL]).to.match(/^[0-9a-f]{32}$/);
    }
  });

  it('evaluates every generated rule without error and does not report the healthy service as down or unconfigured', async () => {
    const rules = await prometheus!.rules();
    expect(rules.length).to.be.greaterThan(5);
    for (const rule of rules) expect(rule.health, `${rule.name}: ${rule.lastError ?? ''}`).to.equal('ok');
    expect(await stateOf('BitrixWebhookServiceDown')).to.equal(undefined);
    expect(await stateOf('BitrixWebhookTokensNotConfigured')).to.equal(undefined);
  });
});
