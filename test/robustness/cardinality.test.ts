// Issue #5: a high-cardinality attack — thousands of distinct, valid-looking event names with a valid token —
// leaves `bitrix_webhook_events_total` bounded: exactly 200 distinct names plus `other` (docs/contract.md, Metrics).

import { expect } from 'chai';
import { METRIC, OTHER_EVENT } from '../../src/vocabulary/names';
import { deliveryShapes, httpBuildQuery, makeToken, FORM_CONTENT_TYPE } from '../../scripts/bench/deliveries';
import { useRunningService, pool } from './support/client';
import { labelValues, scrape, sumOf } from './support/prometheus-text';

const TOKEN = makeToken(301);
const DISTINCT = 3000;

describe('robustness: high-cardinality event names', function () {
  this.timeout(120_000);
  const running = useRunningService({ BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN });

  it(`keeps exactly 200 event names + "${OTHER_EVENT}" after ${DISTINCT} distinct valid names, and counts every delivery`, async () => {
    const base = deliveryShapes(TOKEN)[0]!.data;
    const names = Array.from({ length: DISTINCT }, (_, i) => `ONX${String(i + 1).padStart(4, '0')}`);
    const statuses = new Map<number, number>();
    await pool(names, 8, async (event) => {
      const answer = await running.client.send({
        headers: { 'content-type': FORM_CONTENT_TYPE },
        body: httpBuildQuery({ ...base, event }),
      });
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    });
    expect(Object.fromEntries(statuses), 'every delivery accepted').to.deep.equal({ 200: DISTINCT });

    const samples = await scrape(running.service.url);
    const events = labelValues(samples, METRIC.events, 'event');
    const named = [...events].filter((e) => e !== OTHER_EVENT);
    expect(named.length, 'distinct named event series').to.equal(200);
    expect(events.has(OTHER_EVENT), `an "${OTHER_EVENT}" series`).to.equal(true);
    expect(
      named.every((e) => names.includes(e)),
      'only names that were sent',
    ).to.equal(true);
    expect(sumOf(samples, METRIC.events), 'every accepted delivery counted once').to.equal(DISTINCT);
    expect(sumOf(samples, METRIC.events, { event: OTHER_EVENT })).to.equal(DISTINCT - 200);
    for (const event of named) expect(sumOf(samples, METRIC.events, { event }), event).to.equal(1);
  });

  it(`counts names outside ON[A-Z0-9_]{1,64} as "${OTHER_EVENT}" and never as a label`, async () => {
    const base = deliveryShapes(TOKEN)[0]!.data;
    const before = await scrape(running.service.url);
    const odd = [
      'oncrmdealadd',
      'ON',
      `ON${'A'.repeat(65)}`,
      'ONCRM DEAL',
      'ONCRM-DEAL',
      'ONЗАКАЗ',
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      'ON{x="1"}',
      'ON\nX',
      'ONX"',
      '',
      ' ONCRMDEALADD',
      'ONCRMDEALADD\u0000',
    ];
    for (const event of odd) {
      const answer = await running.client.send({
        headers: { 'content-type': FORM_CONTENT_TYPE },
        body: httpBuildQuery({ ...base, event }),
      });
      expect(answer.status, `event ${JSON.stringify(event)}`).to.equal(200);
    }
    // an event that is not a string at all
    for (const body of [
      `event%5Bx%5D=ONCRMDEALADD&${httpBuildQuery({ auth: base.auth! } as never)}`,
      `event=ONA&event=ONB&${httpBuildQuery({ auth: base.auth! } as never)}`,
    ]) {
      const answer = await running.client.send({ headers: { 'content-type': FORM_CONTENT_TYPE }, body });
      expect(answer.status, body.slice(0, 60)).to.equal(200);
    }
    const after = await scrape(running.service.url);
    const labels = labelValues(after, METRIC.events, 'event');
    expect(labels.size, 'the 200 names of the first test + "other"').to.equal(201);
    for (const event of odd)
      if (event !== '') expect(labels.has(event), `label ${JSON.stringify(event)}`).to.equal(false);
    expect(
      [...labels].every((e) => e === OTHER_EVENT || /^ON[A-Z0-9_]{1,64}$/.test(e)),
      [...labels].join(','),
    ).to.equal(true);
    // Every one of the odd.length + 2 deliveries is counted once, all as "other", and no series is added.
    const counted = sumOf(after, METRIC.events) - sumOf(before, METRIC.events);
    expect(counted, 'accepted deliveries counted').to.equal(odd.length + 2);
    const other =
      sumOf(after, METRIC.events, { event: OTHER_EVENT }) - sumOf(before, METRIC.events, { event: OTHER_EVENT });
    expect(other, `counted as "${OTHER_EVENT}"`).to.equal(odd.length + 2);
    expect([...labels].sort()).to.deep.equal([...labelValues(before, METRIC.events, 'event')].sort());
  });
});
