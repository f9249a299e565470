// Writes the Prometheus rules, Grafana provisioning and dashboard files, and refreshes the runbook's
// generated blocks. Run with `npm run generate`.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderMonitoringFiles, renderRunbook } from '../src/monitoring/render';
import { RUNBOOK_PATH } from '../src/monitoring/constants';

const repoRoot = path.resolve(__dirname, '../..');

function write(relativePath: string, content: string): void {
  const target = path.join(repoRoot, relativePath);
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, content);
  console.log(`wrote ${relativePath}`);
}

for (const file of renderMonitoringFiles()) write(file.path, file.content);
const runbook = renderRunbook(readFileSync(path.join(repoRoot, RUNBOOK_PATH), 'utf8'));
write(runbook.path, runbook.content);
