import { expect } from 'chai';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN, withoutToken } from '../support/bitrix-bodies';
import { OtlpReceiver } from '../support/otlp-receiver';
import { spawnService } from '../support/spawn-service';

describe('trace ids in log lines of the real process lead only to exported traces', () => {
  async function refusalLine(env: Record<string, string | undefined>) {
    const service = await spawnService({ env: { BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN, ...env } });
    try {
      const answer = await fetch(`${service.url}/api/bitrix/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: withoutToken(CRM_DEAL_ADD),
      });
      expect(answer.status).to.equal(401);
      return await service.waitForLog((line) => line.message === 'webhook delivery refused');
    } finally {
      await service.stop();
    }
  }

  it('carries none when no trace exporter is configured (traces go nowhere)', async () => {
    const line = await refusalLine({ OTEL_TRACES_EXPORTER: 'none' });
    expect(line).not.to.have.property('trace_id');
    expect(line).not.to.have.property('span_id');
  });

  it("carries the refusal's trace id when traces are exported, and that trace arrives", async () => {
    const receiver = await new OtlpReceiver().start();
    try {
      const line = await refusalLine({
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      });
      expect(line.trace_id).to.match(/^[0-9a-f]{32}$/);
      // stop() flushed the spans before the process exited
      expect(receiver.spans.filter((span) => span.traceId === line.trace_id).map((span) => span.name)).to.include(
        'bitrix.token.verify',
      );
    } finally {
      await receiver.stop();
    }
  });
});
