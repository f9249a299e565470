// The controls of test/monitoring/dashboard-types.test.ts: mistakes Grafana's published types (@grafana/schema)
// must refuse. `npm run build` (tsc, strict) is the check: if the types ever accepted one of these, tsc would fail
// on its unused @ts-expect-error directive. Exported only so that tsc keeps them (noUnusedLocals).
import type { Panel, VariableModel } from '@grafana/schema';

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
