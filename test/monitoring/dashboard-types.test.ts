// The dashboard is typed with Grafana's published types (@grafana/schema, the pinned Grafana's version):
// `npm run build` (tsc, strict) is the check. The @ts-expect-error lines are its controls: if Grafana's
// types ever accepted these mistakes, tsc would fail on the unused directive.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import type { Dashboard, Panel, VariableModel } from '@grafana/schema';
import { dashboard } from '../../src/monitoring/dashboard';
import { repoPath } from './support/tools';

// @ts-expect-error a misspelt panel field
export const misspeltField: Panel = { id: 1, type: 'timeseries', gridPoss: { x: 0, y: 0, w: 1, h: 1 } };
export const wrongThresholdMode: Panel = {
  id: 1,
  type: 'stat',
  // @ts-expect-error thresholds mode is 'absolute' or 'percentage'
  fieldConfig: { defaults: { thresholds: { mode: 'relative', steps: [] } }, overrides: [] },
};
// @ts-expect-error a variable field the schema does not have
export const unknownVariableField: VariableModel = { name: 'job', type: 'query', definition: 'label_values(up, job)' };

describe('Grafana dashboard typed with @grafana/schema', () => {
  it('the file on disk is exactly the dashboard tsc checked against Grafana\'s Dashboard type', () => {
    const typed: Dashboard = dashboard();
    expect(JSON.parse(readFileSync(repoPath('grafana/dashboards/bitrix-webhook.json'), 'utf8'))).to.deep.equal(JSON.parse(JSON.stringify(typed)));
  });
});
