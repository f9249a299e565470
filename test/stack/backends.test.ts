import { expect } from './expect';
import { readYaml } from './repo';

describe('stack: tempo/tempo.yaml and loki/loki.yaml', () => {
  it('Tempo: monolithic 3.x configuration (no 2.x-only blocks), local storage, OTLP gRPC on all interfaces', () => {
    const tempo = readYaml('tempo/tempo.yaml');
    for (const removed of ['ingester', 'ingester_client', 'compactor', 'metrics_generator_client']) {
      expect(tempo, `Tempo 3.0 rejects the ${removed} block`).to.not.have.property(removed);
    }
    expect(tempo.server.http_listen_port).to.equal(3200);
    expect(tempo.distributor.receivers.otlp.protocols.grpc.endpoint).to.equal('0.0.0.0:4317');
    expect(tempo.storage.trace.backend).to.equal('local');
  });

  it('Tempo: metrics generator with the processors Tempo 3.0 has (local-blocks was removed in 3.0)', () => {
    const tempo = readYaml('tempo/tempo.yaml');
    expect(tempo.overrides.defaults.metrics_generator.processors).to.deep.equal(['service-graphs', 'span-metrics']);
    expect(tempo.metrics_generator, 'local-blocks settings').to.not.have.any.keys('traces_storage', 'processor');
    expect(tempo.metrics_generator.storage.path).to.equal('/var/tempo/generator/wal');
  });

  it('Loki: OTLP-ready (structured metadata on, schema v13 on tsdb for every period)', () => {
    const loki = readYaml('loki/loki.yaml');
    expect(loki.limits_config.allow_structured_metadata).to.equal(true);
    const periods = loki.schema_config.configs as Array<{ store: string; schema: string }>;
    expect(periods).to.not.be.empty;
    for (const period of periods) {
      expect(period.store).to.equal('tsdb');
      expect(period.schema).to.equal('v13');
    }
    expect(loki.auth_enabled, 'single tenant: the collector sends no X-Scope-OrgID').to.equal(false);
  });
});
