import fs from 'node:fs';
import { expect } from './expect';
import { CONFIG_ENV_NAMES, ENV, OTEL_ENV_PREFIX } from '../../src/vocabulary/env-names';
import { DEFAULTS } from '../../src/config/load';
import { DEFAULT_SERVICE_NAME } from '../../src/vocabulary/names';
import {
  commandOf,
  containerPorts,
  environmentOf,
  flagValue,
  hostAndPort,
  hostPathFor,
  imageTag,
  loadCompose,
  mountsOf,
  portMappings,
  readText,
  readYaml,
  repoPath,
  service,
  type Compose,
} from './repo';

const GUARD = 'bitrix24-webhook-guard';
const COLLECTOR = 'otel-collector';
/**
 * The newest patch of each image line used, checked upstream on 2026-11-30: Grafana 13.2.3 (its published
 * packages, e.g. @grafana/schema, reach 13.2.3), Loki 3.7.8, Alertmanager v0.35.1 (Go module proxy).
 * Prometheus v3.14.0, Tempo 3.0.3 and collector-contrib 0.160.0: no newer patch of their line was found.
 */
const NEWEST_PATCH: Record<string, string> = {
  'otel/opentelemetry-collector-contrib': '0.160.0',
  'prom/prometheus': 'v3.14.0',
  'grafana/tempo': '3.0.3',
  'grafana/loki': '3.7.8',
  'grafana/grafana': '13.2.3',
  'prom/alertmanager': 'v0.35.1',
  // The example application (examples/upstream) runs on the service's own Node.js base image (Dockerfile).
  node: '24.21.0-bookworm-slim',
};
/** An exact release: 1.2.3, v1.2.3, 1.2.3-bookworm-slim… never `latest` or a bare major/minor. */
const EXACT_VERSION = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

describe('stack: docker-compose.yml', () => {
  let compose: Compose;
  before(() => {
    compose = loadCompose();
  });

  it('parses and defines the whole stack', () => {
    expect(Object.keys(compose.services).sort()).to.deep.equal(
      [GUARD, 'alertmanager', 'grafana', 'loki', COLLECTOR, 'prometheus', 'tempo', 'traffic', 'upstream'].sort(),
    );
  });

  it('pins every pulled image to an exact version', () => {
    expect(
      Object.keys(compose.services)
        .filter((name) => compose.services[name]!.image)
        .sort(),
      'the images checked',
    ).to.deep.equal([GUARD, 'alertmanager', 'grafana', 'loki', COLLECTOR, 'prometheus', 'tempo', 'upstream'].sort());
    for (const [name, svc] of Object.entries(compose.services)) {
      if (!svc.image) {
        expect(svc.build, `${name} has neither image nor build`).to.exist;
        continue;
      }
      const tag = imageTag(svc.image);
      expect(tag, `${name}: image ${svc.image} has no tag`).to.be.a('string');
      expect(tag, `${name}: image ${svc.image}`).to.not.equal('latest');
      expect(tag, `${name}: image ${svc.image} is not an exact version`).to.match(EXACT_VERSION);
    }
  });

  it('pins the newest patch of each image line', () => {
    const pinned = Object.fromEntries(
      Object.values(compose.services)
        .filter((svc) => svc.image && !svc.build)
        .map((svc) => [svc.image!.split(':')[0]!, imageTag(svc.image!)]),
    );
    expect(pinned).to.deep.equal(NEWEST_PATCH);
  });

  it('runs the Grafana version whose published types the dashboard is checked with (@grafana/schema)', () => {
    const schemaPackage = JSON.parse(fs.readFileSync(require.resolve('@grafana/schema/package.json'), 'utf8')) as {
      name: string;
      version: string;
    };
    expect(schemaPackage.name).to.equal('@grafana/schema');
    expect(imageTag(service(compose, 'grafana').image!)).to.equal(schemaPackage.version);
  });

  it('lets the service listen on all interfaces of its container, so Prometheus and the traffic generator reach it', () => {
    const env = environmentOf(service(compose, GUARD));
    expect(
      env[ENV.host] ?? DEFAULTS.host,
      `${ENV.host} of ${GUARD} (127.0.0.1 is unreachable from other containers)`,
    ).to.equal('0.0.0.0');
  });

  it('lets anonymous visitors open Explore (exemplar "Open trace", the Tempo link, trace to logs): role Editor', () => {
    const env = environmentOf(service(compose, 'grafana'));
    expect({ enabled: env.GF_AUTH_ANONYMOUS_ENABLED, role: env.GF_AUTH_ANONYMOUS_ORG_ROLE }).to.deep.equal({
      enabled: 'true',
      role: 'Editor',
    });
  });

  it('tags the built service image with the package version', () => {
    const pkg = JSON.parse(readText('package.json')) as { name: string; version: string };
    expect(service(compose, GUARD).image).to.equal(`${pkg.name}:${pkg.version}`);
  });

  it('mounts only files and folders that exist in the repository, and declares named volumes', () => {
    const mounts = Object.values(compose.services).flatMap((svc) => mountsOf(svc));
    expect(
      mounts.filter((mount) => mount.bind),
      'the bind mounts checked',
    ).to.have.length.greaterThan(0);
    expect(
      mounts
        .filter((mount) => !mount.bind)
        .map((mount) => mount.source)
        .sort(),
      'the named volumes checked',
    ).to.deep.equal(['alertmanager-data', 'grafana-data', 'loki-data', 'prometheus-data', 'tempo-data']);
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const mount of mountsOf(svc)) {
        if (mount.bind) {
          expect(fs.existsSync(repoPath(mount.source)), `${name} mounts missing ${mount.source}`).to.equal(true);
        } else {
          expect(compose.volumes ?? {}, `${name} uses undeclared volume ${mount.source}`).to.have.property(
            mount.source,
          );
        }
      }
      if (svc.build) {
        const context = typeof svc.build === 'string' ? svc.build : (svc.build.context ?? '.');
        const dockerfile = typeof svc.build === 'string' ? 'Dockerfile' : (svc.build.dockerfile ?? 'Dockerfile');
        expect(
          fs.existsSync(repoPath(context, dockerfile)),
          `${name} builds from missing ${context}/${dockerfile}`,
        ).to.equal(true);
      }
    }
  });

  it('depends only on services it defines', () => {
    const dependsOn = (svc: (typeof compose.services)[string]) =>
      Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on ?? {});
    expect(Object.values(compose.services).flatMap(dependsOn), 'the dependencies checked').to.have.length.greaterThan(
      0,
    );
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const dep of dependsOn(svc)) expect(compose.services, `${name} depends on ${dep}`).to.have.property(dep);
    }
  });

  it('gives the service only variables from its contract (and standard OTEL_* ones)', () => {
    const allowed = new Set(CONFIG_ENV_NAMES);
    const keys = Object.keys(environmentOf(service(compose, GUARD)));
    expect(keys, 'the variables checked').to.include(ENV.token);
    for (const key of keys) {
      expect(allowed.has(key) || key.startsWith(OTEL_ENV_PREFIX), `${key} is not a contract variable`).to.equal(true);
    }
  });

  it('configures a token, so the demo service is ready and accepts deliveries', () => {
    const env = environmentOf(service(compose, GUARD));
    expect(env[ENV.token], ENV.token).to.match(/^[0-9a-z]{32}$/);
    expect(env.OTEL_SERVICE_NAME).to.equal(DEFAULT_SERVICE_NAME);
  });

  it('publishes the port the service listens on, and that Prometheus scrapes', () => {
    const guard = service(compose, GUARD);
    const port = Number(environmentOf(guard)[ENV.port] ?? DEFAULTS.port);
    expect([...containerPorts(guard)]).to.include(port);
    const prometheus = readYaml('prometheus/prometheus.yml');
    const job = prometheus.scrape_configs.find((c: { job_name: string }) => c.job_name === GUARD);
    expect(job, `scrape job ${GUARD}`).to.exist;
    expect(job.static_configs.flatMap((s: { targets: string[] }) => s.targets)).to.deep.equal([`${GUARD}:${port}`]);
  });

  it("points the service's OTLP endpoint at the collector's OTLP/HTTP receiver", () => {
    const env = environmentOf(service(compose, GUARD));
    const endpoint = hostAndPort(env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '');
    expect(endpoint.host).to.equal(COLLECTOR);
    const collector = readYaml('otel-collector.yaml');
    const httpReceiver = hostAndPort(collector.receivers.otlp.protocols.http.endpoint);
    expect(endpoint.port).to.equal(httpReceiver.port);
    expect(env.OTEL_EXPORTER_OTLP_PROTOCOL).to.match(/^http\//);
    expect(env.OTEL_TRACES_EXPORTER).to.equal('otlp');
    expect(env.OTEL_LOGS_EXPORTER).to.equal('otlp');
  });

  it('runs each backend with the configuration file the repository ships', () => {
    const cases: Array<[string, string, string]> = [
      [COLLECTOR, 'config', 'otel-collector.yaml'],
      ['tempo', 'config.file', 'tempo/tempo.yaml'],
      ['loki', 'config.file', 'loki/loki.yaml'],
      ['prometheus', 'config.file', 'prometheus/prometheus.yml'],
    ];
    for (const [name, flag, file] of cases) {
      const svc = service(compose, name);
      const target = flagValue(commandOf(svc), flag);
      expect(target, `${name} --${flag}`).to.be.a('string');
      expect(hostPathFor(svc, target!)?.replace(/^\.\//, ''), `${name} reads ${target}`).to.equal(file);
    }
  });

  it('keeps the backends listening where the collector, Prometheus and Grafana look for them', () => {
    const tempo = readYaml('tempo/tempo.yaml');
    const tempoOtlp = hostAndPort(tempo.distributor.receivers.otlp.protocols.grpc.endpoint);
    expect(tempoOtlp.host, 'Tempo must bind all interfaces to be reachable from the collector').to.equal('0.0.0.0');
    expect([...containerPorts(service(compose, 'tempo'))]).to.include.members([
      tempo.server.http_listen_port,
      tempoOtlp.port,
    ]);
    const loki = readYaml('loki/loki.yaml');
    expect([...containerPorts(service(compose, 'loki'))]).to.include(loki.server.http_listen_port);
  });

  it('runs Prometheus with exemplar storage and the rules folder next to its config', () => {
    const prometheus = service(compose, 'prometheus');
    expect(commandOf(prometheus)).to.include('--enable-feature=exemplar-storage');
    const config = flagValue(commandOf(prometheus), 'config.file')!;
    const configDir = config.slice(0, config.lastIndexOf('/'));
    expect(hostPathFor(prometheus, `${configDir}/rules`)?.replace(/^\.\//, '')).to.equal('prometheus/rules');
  });

  it('publishes Grafana on host port 3001 with the provisioning and dashboards folders', () => {
    const grafana = service(compose, 'grafana');
    expect(portMappings(grafana)).to.deep.include({ container: 3000, host: 3001 });
    expect(hostPathFor(grafana, '/etc/grafana/provisioning')).to.equal('./grafana/provisioning');
    expect(hostPathFor(grafana, '/var/lib/grafana/dashboards')).to.equal('./grafana/dashboards');
  });

  it('sends demo traffic, in its own profile, to the service webhook with the token the service accepts', () => {
    const traffic = service(compose, 'traffic');
    expect(traffic.profiles).to.deep.equal(['traffic']);
    const env = environmentOf(traffic);
    const guardEnv = environmentOf(service(compose, GUARD));
    const target = hostAndPort(env.TRAFFIC_TARGET_URL ?? '');
    expect(target.host).to.equal(GUARD);
    expect(target.port).to.equal(Number(guardEnv[ENV.port] ?? DEFAULTS.port));
    expect(target.path).to.equal(guardEnv[ENV.webhookPath] ?? DEFAULTS.webhookPath);
    expect(env.TRAFFIC_TOKEN, 'traffic token must equal the service token, or nothing is ever accepted').to.equal(
      guardEnv[ENV.token],
    );
    expect(commandOf(traffic).join(' ')).to.equal('node dist/scripts/traffic.js');
    expect(fs.existsSync(repoPath('scripts/traffic.ts'))).to.equal(true);
  });

  it('is described by docs/stack.md: every pinned image and every published port', () => {
    const doc = readText('docs/stack.md');
    expect(
      Object.values(compose.services).flatMap((svc) => portMappings(svc)),
      'the published ports checked',
    ).to.have.length.greaterThan(5);
    for (const [name, svc] of Object.entries(compose.services)) {
      if (svc.image && !svc.build) expect(doc, `${name}: ${svc.image}`).to.include(svc.image);
      for (const { host } of portMappings(svc)) {
        if (host !== undefined) expect(doc, `${name}: host port ${host}`).to.include(`localhost:${host}`);
      }
    }
    const nodeImage = /^FROM\s+(\S+)/m.exec(readText('Dockerfile'))![1]!;
    expect(doc, 'the Node.js base image').to.include(nodeImage);
  });
});
