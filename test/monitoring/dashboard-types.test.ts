// The dashboard is typed with Grafana's published types (@grafana/schema, the pinned Grafana's version):
// `npm run build` (tsc, strict) is the check. Its controls, mistakes the types must refuse, are in
// support/dashboard-type-controls.ts.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import type { Dashboard } from '@grafana/schema';
import { dashboard } from '../../src/monitoring/dashboard';
import { repoPath } from './support/tools';

describe('Grafana dashboard typed with @grafana/schema', () => {
  it("the file on disk is exactly the dashboard tsc checked against Grafana's Dashboard type", () => {
    const typed: Dashboard = dashboard();
    expect(JSON.parse(readFileSync(repoPath('grafana/dashboards/bitrix-webhook.json'), 'utf8'))).to.deep.equal(
      JSON.parse(JSON.stringify(typed)),
    );
  });
});
