// Forwarding under faults of its own process, with the real service and a real SQLite file: a send stopped
// by the shutdown is not an attempt; a send that ends the process is, so a poison event is dead-lettered;
// a taken port ends the process at once; a commit wakes the forwarder.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { parseStoreConfig } from '../../src/store/config';
import { openStore } from '../../src/store/open';
import type { StoredEvent } from '../../src/store/types';
import { WEBHOOK_TOKEN } from '../support/bitrix-bodies';
import { spawnService, type RunningService } from '../support/spawn-service';
import { SIGNING_SECRET, Upstream } from '../forward/support/upstream';
import { deliver } from '../robustness/support/store-load';

describe('forwarding faults of the service process', function () {
  this.timeout(120_000);
  let dir: string;
  let upstream: Upstream;
  const services: RunningService[] = [];

  const env = (extra: Record<string, string> = {}) => ({
    DATA_DIR: dir,
    BITRIX24_OUTGOING_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    FORWARD_URL: upstream.url,
    FORWARD_SIGNING_SECRET: SIGNING_SECRET,
    LOG_LEVEL: 'debug',
    ...extra,
  });
  const storedEvents = async (): Promise<StoredEvent[]> => {
    const store = await openStore(parseStoreConfig({ DATA_DIR: dir }), { bodyLimitBytes: 262_144 });
    try {
      return await store.listEvents();
    } finally {
      await store.close();
    }
  };

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'forward-faults-'));
    upstream = new Upstream();
    await upstream.start();
  });
  afterEach(async () => {
    await Promise.all(services.splice(0).map((service) => service.stop('SIGKILL')));
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a send stopped by the shutdown is no attempt: attempts 0, no last error, no lease, due at once', async () => {
    upstream.reply = () => ({ status: 200, delayMs: 60_000 });
    const service = await spawnService({ env: env({ FORWARD_TIMEOUT_SECONDS: '30', SHUTDOWN_DRAIN_SECONDS: '0' }) });
    services.push(service);
    expect((await deliver(service, 1)).status).to.equal(200);
    await upstream.waitFor(() => upstream.received.length === 1, 10_000, 'the send in flight');
    expect(await service.stop('SIGTERM')).to.equal(0);
    const [event] = await storedEvents();
    expect([event!.status, event!.attempts, event!.lastError, event!.leaseOwner, event!.leaseUntil]).to.deep.equal([
      'pending',
      0,
      null,
      null,
      null,
    ]);
  });

  it('a send that ends the process counts: after FORWARD_MAX_ATTEMPTS such sends the event is a dead letter', async () => {
    let current: RunningService | undefined;
    // The application's answer never comes: the process dies during each send (as a poison event would make it).
    upstream.reply = () => {
      current?.process.kill('SIGKILL');
      return { status: 200, delayMs: 60_000 };
    };
    const settings = env({ FORWARD_MAX_ATTEMPTS: '2', FORWARD_TIMEOUT_SECONDS: '1' });
    current = await spawnService({ env: settings });
    services.push(current);
    expect((await deliver(current, 1)).status).to.equal(200);
    for (let crash = 1; crash <= 2; crash++) {
      await upstream.waitFor(() => upstream.received.length === crash, 30_000, `send ${crash}`);
      await current.stop('SIGKILL');
      current = await spawnService({ env: settings });
      services.push(current);
    }
    // The lease of the second send runs out (2 × 1 s + 5 s); the third claim finds two attempts without a result.
    const deadline = Date.now() + 30_000;
    let event: StoredEvent | undefined;
    while (Date.now() < deadline) {
      [event] = await storedEvents();
      if (event?.status === 'dead') break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect([event!.status, event!.attempts]).to.deep.equal(['dead', 3]);
    expect(event!.lastError).to.match(/^gave up after 2 attempts without a recorded result/);
    expect(upstream.received.length).to.equal(2);
  });

  it('the application down: /readyz stays ready and reports forwarding apart', async () => {
    upstream.reply = () => ({ status: 503, body: 'maintenance' });
    const service = await spawnService({
      env: env({ FORWARD_BACKOFF_BASE_SECONDS: '0.05', FORWARD_BACKOFF_MAX_SECONDS: '0.1' }),
    });
    services.push(service);
    expect((await deliver(service, 1)).status).to.equal(200);
    await upstream.waitFor(() => upstream.received.length >= 2, 15_000, 'two failed sends');
    const readyz = await fetch(`${service.url}/readyz`);
    const body = (await readyz.json()) as {
      status: string;
      store: unknown;
      forwarding: { status: string; consecutive_failures: number; last_error: string };
    };
    expect([readyz.status, body.status, body.store]).to.deep.equal([200, 'ready', { status: 'ok' }]);
    expect(body.forwarding.status).to.equal('failing');
    expect(body.forwarding.consecutive_failures).to.be.at.least(1);
    expect(body.forwarding.last_error).to.equal('HTTP 503: maintenance');
  });

  it('the port taken, forwarding on: exit 1 at once with one line naming the port', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const exited = spawnService({ expectExit: true, env: env({ PORT: String(port) }) });
      const service = await Promise.race([
        exited,
        new Promise<undefined>((resolve) => setTimeout(resolve, 20_000, undefined)),
      ]);
      expect(service, 'the process exited').to.not.equal(undefined);
      expect(service!.process.exitCode).to.equal(1);
      expect(
        service!.logs.some((line) => String(line.message).startsWith(`cannot listen on 127.0.0.1:${port}`)),
      ).to.equal(true);
      expect(service!.stderr()).not.to.include('write after end');
    } finally {
      holder.close();
    }
  });

  it('a commit wakes the forwarder: an idle service forwards long before its next poll (median latency after the 200 reported)', async () => {
    const arrived = new Map<string, number>();
    upstream.reply = (request) => {
      arrived.set(request.id, Date.now());
      return { status: 200 };
    };
    // A poll of 5 s: without the wake-up the median latency would be about 2.5 s.
    const service = await spawnService({ env: env({ FORWARD_POLL_SECONDS: '5' }) });
    services.push(service);
    const latencies: number[] = [];
    for (let i = 0; i < 15; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      const before = arrived.size;
      const sent = await deliver(service, 100 + i);
      const answeredAt = Date.now();
      expect(sent.status).to.equal(200);
      await upstream.waitFor(() => arrived.size > before, 15_000, `forward of delivery ${i}`);
      latencies.push([...arrived.values()].pop()! - answeredAt);
    }
    latencies.sort((a, b) => a - b);
    const median = latencies[Math.floor(latencies.length / 2)]!;
    console.log(
      `      forwarding latency after the 200 on an idle service: median ${median} ms (min ${latencies[0]}, max ${latencies[latencies.length - 1]})`,
    );
    expect(median).to.be.below(1_000);
  });
});
