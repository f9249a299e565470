import { expect } from './expect';
import { containerPorts, hostAndPort, imageTag, loadCompose, readYaml, service, type Compose } from './repo';
import type { JsonRecord } from '../support/ndjson';

type Pipeline = { receivers?: string[]; processors?: string[]; exporters?: string[] };
const KINDS = ['receivers', 'processors', 'exporters'] as const;

/**
 * Component types this configuration may use, for the pinned collector-contrib version. The exporter
 * names `otlp_grpc`/`otlp_http` exist from v0.144.0 on (the old `otlp`/`otlphttp` are deprecated
 * aliases); `loki` and `logging` exporters are gone (Loki takes OTLP; `debug` replaced `logging`).
 */
const MIN_VERSION_FOR_NAMES = [0, 144, 0];
const KNOWN_TYPES: Record<string, string[]> = {
  receivers: ['otlp'],
  processors: ['memory_limiter', 'batch'],
  exporters: ['otlp_grpc', 'otlp_http', 'debug'],
  extensions: ['health_check'],
};
const REMOVED_OR_DEPRECATED: Record<string, string> = {
  'exporters/otlp': 'use otlp_grpc',
  'exporters/otlphttp': 'use otlp_http',
  'exporters/loki': 'removed: send OTLP to Loki with otlp_http',
  'exporters/logging': 'removed: use debug',
};

const typeOf = (id: string) => id.split('/')[0]!;

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  }
  return 0;
}

describe('stack: otel-collector.yaml', () => {
  let config: JsonRecord;
  let compose: Compose;
  before(() => {
    config = readYaml('otel-collector.yaml');
    compose = loadCompose();
  });
  const pipelines = (): Array<[string, Pipeline]> =>
    Object.entries(config.service.pipelines as Record<string, Pipeline>);

  it('uses every component it defines and defines every component it uses', () => {
    for (const kind of KINDS) {
      const defined = Object.keys(config[kind] ?? {}).sort();
      const used = [...new Set(pipelines().flatMap(([, p]) => p[kind] ?? []))].sort();
      expect(used, `${kind} used in pipelines vs defined`).to.deep.equal(defined);
    }
    expect(config.connectors, 'no connectors are expected here').to.equal(undefined);
    const extensions = Object.keys(config.extensions ?? {}).sort();
    expect([...(config.service.extensions ?? [])].sort(), 'extensions enabled vs defined').to.deep.equal(extensions);
  });

  it('puts memory_limiter first and batch in every pipeline', () => {
    expect(pipelines().map(([name]) => name)).to.include.members(['traces', 'logs']);
    for (const [name, pipeline] of pipelines()) {
      expect(pipeline.processors?.[0], `${name}: first processor`).to.equal('memory_limiter');
      expect(pipeline.processors, `${name}: processors`).to.include('batch');
    }
  });

  it('speaks plaintext gRPC to Tempo (tls.insecure), since Tempo receives OTLP without TLS', () => {
    const tempoGrpc = readYaml('tempo/tempo.yaml').distributor.receivers.otlp.protocols.grpc;
    expect(tempoGrpc.tls, "Tempo's OTLP gRPC receiver has no TLS").to.equal(undefined);
    const grpcExporters = Object.entries(config.exporters as Record<string, JsonRecord>).filter(
      ([id]) => typeOf(id) === 'otlp_grpc',
    );
    expect(grpcExporters.map(([id]) => id)).to.deep.equal(['otlp_grpc/tempo']);
    for (const [id, exporter] of grpcExporters) {
      expect(
        exporter.tls,
        `${id}: without tls.insecure the gRPC client attempts a TLS handshake and every export fails`,
      ).to.deep.equal({ insecure: true });
    }
  });

  it('limits memory for real: memory_limiter checks every second, with a spike allowance below the limit', () => {
    const limiter = config.processors.memory_limiter;
    // The collector refuses to start without check_interval > 0 ("checkInterval must be greater than zero").
    expect(limiter.check_interval, 'memory_limiter.check_interval').to.equal('1s');
    expect(limiter.limit_mib).to.equal(400);
    expect(limiter.spike_limit_mib).to.equal(100);
  });

  it('binds every receiver to all interfaces', () => {
    let endpoints = 0;
    for (const [id, receiver] of Object.entries(config.receivers as Record<string, JsonRecord>)) {
      for (const [protocol, settings] of Object.entries(receiver.protocols ?? { default: receiver })) {
        const endpoint = (settings as { endpoint?: string } | null)?.endpoint;
        expect(endpoint, `${id}.${protocol} endpoint (the default binds localhost only)`).to.be.a('string');
        expect(hostAndPort(endpoint!).host, `${id}.${protocol}`).to.equal('0.0.0.0');
        endpoints += 1;
      }
    }
    expect(endpoints).to.be.greaterThan(0);
  });

  it('enables the health_check extension on 0.0.0.0:13133', () => {
    expect(config.service.extensions).to.include('health_check');
    expect(config.extensions.health_check.endpoint).to.equal('0.0.0.0:13133');
  });

  it('uses component names that exist in the pinned collector version', () => {
    const tag = imageTag(service(compose, 'otel-collector').image ?? '')!;
    const version = tag.replace(/^v/, '').split('.').map(Number);
    expect(version.every(Number.isInteger), `collector tag ${tag}`).to.equal(true);
    expect(
      compareVersions(version, MIN_VERSION_FOR_NAMES),
      `collector ${tag} predates otlp_grpc/otlp_http`,
    ).to.be.at.least(0);
    for (const kind of [...KINDS, 'extensions'] as const) {
      for (const id of Object.keys(config[kind] ?? {})) {
        const key = `${kind}/${typeOf(id)}`;
        expect(REMOVED_OR_DEPRECATED[key], `${id}: ${REMOVED_OR_DEPRECATED[key]}`).to.equal(undefined);
        expect(KNOWN_TYPES[kind], `${kind}: ${id}`).to.include(typeOf(id));
      }
    }
  });

  it('exports traces to Tempo and logs to Loki at ports those services listen on', () => {
    const exportersOf = (pipeline: string) => config.service.pipelines[pipeline].exporters as string[];
    const tempoExporter = exportersOf('traces').find((id) => typeOf(id) === 'otlp_grpc');
    expect(tempoExporter, 'traces pipeline exports over OTLP/gRPC').to.be.a('string');
    const tempoTarget = hostAndPort(config.exporters[tempoExporter!].endpoint);
    expect(tempoTarget.host).to.equal('tempo');
    expect([...containerPorts(service(compose, 'tempo'))]).to.include(tempoTarget.port);
    const tempo = readYaml('tempo/tempo.yaml');
    expect(hostAndPort(tempo.distributor.receivers.otlp.protocols.grpc.endpoint).port).to.equal(tempoTarget.port);

    const lokiExporter = exportersOf('logs').find((id) => typeOf(id) === 'otlp_http');
    expect(lokiExporter, 'logs pipeline exports over OTLP/HTTP').to.be.a('string');
    const lokiTarget = hostAndPort(config.exporters[lokiExporter!].endpoint);
    expect(lokiTarget.host).to.equal('loki');
    expect(lokiTarget.path, "Loki's OTLP base path (the exporter appends /v1/logs)").to.equal('/otlp');
    expect([...containerPorts(service(compose, 'loki'))]).to.include(lokiTarget.port);
    expect(readYaml('loki/loki.yaml').server.http_listen_port).to.equal(lokiTarget.port);
  });

  it("exposes the collector's own metrics on 0.0.0.0:8888, where Prometheus scrapes them", () => {
    const readers = config.service.telemetry.metrics.readers as JsonRecord[];
    const prom = readers.map((r) => r.pull?.exporter?.prometheus).find(Boolean);
    expect(prom, 'a pull/prometheus reader').to.exist;
    expect(prom.host).to.equal('0.0.0.0');
    expect([...containerPorts(service(compose, 'otel-collector'))]).to.include(prom.port);
    const prometheus = readYaml('prometheus/prometheus.yml');
    const targets = prometheus.scrape_configs.flatMap((c: JsonRecord) =>
      c.static_configs.flatMap((s: JsonRecord) => s.targets),
    );
    expect(targets).to.include(`otel-collector:${prom.port}`);
  });

  it('receives on the ports the compose file publishes', () => {
    const ports = containerPorts(service(compose, 'otel-collector'));
    const protocols = config.receivers.otlp.protocols as Record<string, { endpoint: string }>;
    expect(Object.keys(protocols).sort()).to.deep.equal(['grpc', 'http']);
    for (const settings of Object.values(protocols)) {
      expect([...ports]).to.include(hostAndPort(settings.endpoint).port);
    }
  });
});
