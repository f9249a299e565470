// Issue #20 §5: the quarantine gauges are computed from the store, so a replay made by the CLI (another
// process) shows on the service's /metrics at the next scrape.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN } from '../support/bitrix-bodies';
import { runCli } from '../cli/run-cli';
import { spawnService, type RunningService } from '../support/spawn-service';
import { METRIC } from '../../src/vocabulary/names';

async function gauge(service: RunningService, name: string): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.slice(name.length + 1));
}

describe('quarantine gauges read from the store (real process, SQLite, CLI replay)', function () {
  this.timeout(90_000);
  let dir: string;
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`${METRIC.quarantinePending} falls when the CLI releases a delivery; ${METRIC.quarantineSize} keeps the released row`, async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'quarantine-gauges-'));
    const dataDir = path.join(dir, 'data');
    // Configured with another token: the deal is refused 403 and quarantined.
    service = await spawnService({ env: { DATA_DIR: dataDir, BITRIX24_OUTGOING_WEBHOOK_TOKEN: 'a'.repeat(32) } });
    const refused = await fetch(`${service.url}/api/bitrix/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: CRM_DEAL_ADD,
    });
    expect(refused.status).to.equal(403);
    expect([await gauge(service, METRIC.quarantineSize), await gauge(service, METRIC.quarantinePending)]).to.deep.equal(
      [1, 1],
    );
    // The operator fixes the token and replays from another process, while the service still runs.
    const replay = await runCli(['quarantine', 'replay', '--apply', '--json'], {
      DATA_DIR: dataDir,
      BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    });
    expect(replay.code, replay.stderr).to.equal(0);
    expect(JSON.parse(replay.stdout.trim().split('\n').at(-1)!).summary).to.deep.include({ released: 1 });
    expect([await gauge(service, METRIC.quarantineSize), await gauge(service, METRIC.quarantinePending)]).to.deep.equal(
      [1, 0],
    );
  });
});
