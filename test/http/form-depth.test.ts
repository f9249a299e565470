// Issue #16, item 7: form keys nested deeper than the parser's limit are refused (400 malformed_body, as the
// README says), never folded silently into one literal key.
import { expect } from 'chai';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN } from '../support/bitrix-bodies';
import { startHarness, type Harness } from '../support/harness';

const nested = (levels: number) => `data${Array.from({ length: levels }, (_, i) => `%5Bk${i}%5D`).join('')}=x`;

describe('form nesting beyond the limit', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN });
  });
  after(() => harness.close());

  const post = (body: string) =>
    fetch(`${harness.url}/api/bitrix/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });

  it('accepts keys nested exactly 10 levels, nested as sent', async () => {
    const response = await post(`${CRM_DEAL_ADD}&${nested(9)}`);
    expect(response.status).to.equal(200);
    let data = harness.events.at(-1)!.data as Record<string, unknown>;
    for (let i = 0; i < 8; i++) data = data[`k${i}`] as Record<string, unknown>;
    expect(data).to.deep.equal({ k8: 'x' });
  });

  it('refuses a key nested 11 levels with 400 malformed_body and says why in the log', async () => {
    const before = harness.events.length;
    const response = await post(`${CRM_DEAL_ADD}&${nested(11)}`);
    expect({ status: response.status, body: await response.json() }).to.deep.equal({
      status: 400,
      body: { status: 'rejected', reason: 'malformed_body' },
    });
    expect(harness.events.length).to.equal(before);
    expect(harness.logs.at(-1)).to.include({ reason: 'malformed_body', detail: 'form keys nested deeper than 10' });
  });
});
