// Issue 16, item 9: what one refusal costs in logs and traces, measured in bytes against the request's own
// size, for the smallest junk a scanner sends and for a header-stuffed one.
import { expect } from 'chai';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { startHarness, type Harness } from '../support/harness';
import { WEBHOOK_TOKEN } from '../support/bitrix-bodies';
import { Client } from '../robustness/support/client';

const REFUSALS = 40;

/** The bytes a span costs on the wire, near enough: its name, ids, attributes, events and status as JSON. */
function spanBytes(span: ReadableSpan): number {
  const context = span.spanContext();
  return Buffer.byteLength(
    JSON.stringify({
      name: span.name,
      traceId: context.traceId,
      spanId: context.spanId,
      attributes: span.attributes,
      events: span.events,
      status: span.status,
    }),
  );
}

describe('the cost of one refusal in logs and traces', function () {
  this.timeout(60_000);
  let harness: Harness;
  let client: Client;

  beforeEach(async () => {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
    client = new Client(harness.url);
  });

  afterEach(async () => {
    client.close();
    await harness.close();
  });

  async function measure(
    headers: Record<string, string>,
    body: string,
  ): Promise<{ request: number; perRefusal: number }> {
    harness.spans.reset();
    const logsBefore = harness.rawLogs.length;
    for (let i = 0; i < REFUSALS; i++) expect((await client.send({ headers, body })).status).to.equal(401);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const logBytes = harness.rawLogs.slice(logsBefore).reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);
    const traceBytes = harness.spans.getFinishedSpans().reduce((sum, span) => sum + spanBytes(span), 0);
    const request =
      Buffer.byteLength(body) +
      Object.entries(headers).reduce((sum, [name, value]) => sum + name.length + value.length + 4, 0) +
      60;
    return { request, perRefusal: (logBytes + traceBytes) / REFUSALS };
  }

  it('costs a bounded number of bytes per refusal, however many headers the request stuffs', async () => {
    const small = await measure(
      { 'content-type': 'application/x-www-form-urlencoded' },
      'event=ONCRMDEALADD&data%5BFIELDS%5D%5BID%5D=1',
    );
    const stuffedHeaders: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    for (let i = 0; i < 300; i++) stuffedHeaders[`x-${'h'.repeat(20)}-${i}`] = '1';
    const stuffed = await measure(stuffedHeaders, 'event=ONCRMDEALADD&data%5BFIELDS%5D%5BID%5D=1');
    console.log(
      `      small junk: ${stuffed && small.perRefusal.toFixed(0)} bytes of log+span per ${small.request}-byte request (${(small.perRefusal / small.request).toFixed(1)}x); ` +
        `header-stuffed: ${stuffed.perRefusal.toFixed(0)} bytes per ${stuffed.request}-byte request (${(stuffed.perRefusal / stuffed.request).toFixed(1)}x)`,
    );
    expect(stuffed.perRefusal).to.be.at.most(MAX_REFUSAL_COST_BYTES);
    expect(small.perRefusal).to.be.at.most(MAX_REFUSAL_COST_BYTES);
  });
});

/** What one refusal may cost in log and span bytes. */
const MAX_REFUSAL_COST_BYTES = 4 * 1024;
