// The service process on a real PostgreSQL 15 that fails under it: its connections terminated, the server
// restarted, the server paused (SIGSTOP) mid-load. Only 200 or 503 store_unavailable, every 200 stored, the
// process alive, answers within STORE_TIMEOUT_SECONDS, and recovery without a restart.
import net from 'node:net';
import { expect } from 'chai';
import { Client } from 'pg';
import { WEBHOOK_TOKEN } from '../support/bitrix-bodies';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { spawnService, type RunningService } from '../support/spawn-service';
import { dealIds, deliver, eventually, expectOnly200Or503, startLoad, timedGet } from './support/store-load';

const STORE_TIMEOUT_SECONDS = 2;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('store faults: PostgreSQL fails under the running service', function () {
  this.timeout(180_000);
  let postgres: TestPostgres;
  let databases = 0;
  let url: string;
  let service: RunningService | undefined;

  before(async () => {
    postgres = await startPostgres();
  });
  after(async () => {
    await postgres?.stop();
  });
  beforeEach(async () => {
    databases += 1;
    url = await postgres.createDatabase(`faults_${databases}`);
    service = await spawnService({
      env: {
        DATABASE_URL: url,
        BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
        STORE_TIMEOUT_SECONDS: String(STORE_TIMEOUT_SECONDS),
      },
    });
  });
  afterEach(async () => {
    postgres.resume();
    await service?.stop('SIGKILL');
    service = undefined;
  });

  const storedIds = async () => {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      return dealIds((await client.query<{ data: string }>('SELECT data FROM events')).rows);
    } finally {
      await client.end();
    }
  };

  const expectRecovered = async (firstId: number) => {
    expect(service!.process.exitCode, 'the process is alive').to.equal(null);
    await eventually(
      async () => expect((await deliver(service!, firstId)).status).to.equal(200),
      30_000,
      'a 200 again',
    );
    await eventually(
      async () => expect((await timedGet(`${service!.url}/readyz`)).status).to.equal(200),
      10_000,
      '/readyz ready again',
    );
    expect((await storedIds()).has(firstId)).to.equal(true);
  };

  it('pg_terminate_backend on every connection, three times mid-load: 200 or 503, every 200 stored, alive, recovers', async () => {
    const load = startLoad(service!, 6);
    const admin = new Client({ connectionString: postgres.url() });
    await admin.connect();
    try {
      for (let round = 0; round < 3; round++) {
        await sleep(700);
        await admin.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [`faults_${databases}`],
        );
      }
      await sleep(700);
    } finally {
      await admin.end();
    }
    const results = await load.stop();
    expect(results.filter((sent) => sent.status === 200).length).to.be.above(10);
    expectOnly200Or503(results, await storedIds());
    await expectRecovered(900_001);
    const logs = service!.logs.filter((line) => String(line.message).startsWith('store unavailable'));
    expect(JSON.stringify(logs)).not.to.include('password');
  });

  it('a server restart mid-load: 503 store_unavailable while it is down, /readyz not ready, then 200 again without a restart', async () => {
    const load = startLoad(service!, 6);
    await sleep(800);
    await postgres.restart();
    await sleep(800);
    const results = await load.stop();
    expectOnly200Or503(results, await storedIds());
    expect(
      results.some((sent) => sent.status === 503),
      'some deliveries met the restart',
    ).to.equal(true);
    expect(service!.logs.some((line) => String(line.message).startsWith('store unavailable'))).to.equal(true);
    await expectRecovered(900_002);
    expect(service!.logs.some((line) => line.message === 'store available again')).to.equal(true);
  });

  it('the server paused (SIGSTOP): answers within STORE_TIMEOUT_SECONDS, /metrics /healthz /readyz prompt, counted, then resumes', async () => {
    expect((await deliver(service!, 1)).status).to.equal(200);
    postgres.pause();
    const paused = await Promise.all(Array.from({ length: 8 }, (_, i) => deliver(service!, 100 + i)));
    // Each answer within the timeout plus the time to get a loaded machine's answer out.
    for (const sent of paused) {
      expect(sent.status, JSON.stringify(sent)).to.equal(503);
      expect(sent.ms).to.be.below(STORE_TIMEOUT_SECONDS * 1000 + 3_000);
    }
    const [metrics, healthz, readyz] = await Promise.all(
      ['/metrics', '/healthz', '/readyz'].map((path) => timedGet(`${service!.url}${path}`)),
    );
    for (const answer of [metrics!, healthz!, readyz!]) expect(answer.ms).to.be.below(2_000);
    expect(healthz!.status).to.equal(200);
    expect(readyz!.status).to.equal(503);
    expect(readyz!.json).to.deep.include({ status: 'not_ready', reason: 'store_unavailable' });
    expect(readyz!.json!.store).to.deep.include({ status: 'failing', cause: 'timeout' });
    expect(metrics!.text).to.match(/^bitrix_webhook_store_timeouts_total [1-9]\d*$/m);
    expect(metrics!.text).to.match(/^bitrix_webhook_store_up 0$/m);
    await sleep(1_500);
    postgres.resume();
    const after = await eventually(
      async () => {
        const sent = await deliver(service!, 200);
        expect(sent.status).to.equal(200);
        return sent;
      },
      30_000,
      'a 200 after SIGCONT',
    );
    expect(after.status).to.equal(200);
    await expectRecovered(900_003);
    expectOnly200Or503([...paused, after], await storedIds());
    expect((await timedGet(`${service!.url}/metrics`)).text).to.match(/^bitrix_webhook_store_up 1$/m);
  });
});

describe('store faults: start-up against a database that is not there', function () {
  this.timeout(60_000);

  it('a TCP server that accepts and never answers: one line per attempt, then exit 1 within STORE_STARTUP_TIMEOUT_SECONDS', async () => {
    const sockets: net.Socket[] = [];
    const blackHole = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const port = (blackHole.address() as net.AddressInfo).port;
    try {
      const started = Date.now();
      const service = await spawnService({
        expectExit: true,
        env: {
          DATABASE_URL: `postgres://guard:Secr3tPassw0rd@127.0.0.1:${port}/guard`,
          BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
          STORE_TIMEOUT_SECONDS: '1',
          STORE_STARTUP_TIMEOUT_SECONDS: '4',
        },
      });
      const elapsed = Date.now() - started;
      expect(service.process.exitCode).to.equal(1);
      const attempts = service.logs.filter((line) => String(line.message).startsWith('store not reachable yet'));
      expect(attempts.length).to.be.within(2, 6);
      expect(attempts.map((line) => line.attempt)).to.deep.equal(attempts.map((_, i) => i + 1));
      expect(String(attempts[0]!.message)).to.include(`PostgreSQL at 127.0.0.1:${port}/guard`);
      expect(String(attempts[0]!.message)).to.include('STORE_STARTUP_TIMEOUT_SECONDS=4');
      const final = service.logs.find((line) => String(line.message).startsWith('cannot open the store'));
      expect(final, service.stdout()).to.not.equal(undefined);
      expect(service.stdout() + service.stderr()).not.to.include('Secr3tPassw0rd');
      expect(service.logs.some((line) => line.message === 'listening')).to.equal(false);
      // 4 s of retries plus a last attempt bounded by the 1 s timeout, plus the process's own start.
      expect(elapsed).to.be.below(20_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      blackHole.close();
    }
  });
});
