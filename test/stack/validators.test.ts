// The stack files checked by tools that are not ours: docker-compose's own parser and schema, the
// collector's published config schemas, PyYAML (what Ansible and yamllint read with), yamllint, amtool.
// Each check has a control: the same tool given a broken copy must refuse it, so a check cannot pass vacuously.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import YAML from 'yaml';
import { expect } from './expect';
import { schemaProblems, type SchemaNode } from './config-schema';
import { readText, readYaml, repoPath } from './repo';
import { findBinary, needsTools, runTool } from '../monitoring/support/tools';

const COLLECTOR_SCHEMA = 'test/stack/fixtures/otelcol-config-schema.json';
const COMPONENT_KINDS = ['receivers', 'processors', 'exporters', 'extensions'] as const;

/** Every YAML file the stack or the generator ships. */
function stackYamlFiles(): string[] {
  const found: string[] = [];
  const walk = (relative: string) => {
    for (const entry of fs.readdirSync(repoPath(relative), { withFileTypes: true })) {
      const child = path.posix.join(relative, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (/\.ya?ml$/.test(entry.name)) found.push(child);
    }
  };
  for (const dir of ['grafana', 'prometheus', 'tempo', 'loki', 'alertmanager']) walk(dir);
  return [...found, 'otel-collector.yaml', 'docker-compose.yml'].sort();
}

function withTempCopy<T>(name: string, content: string, run: (file: string) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stack-validate-'));
  try {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return run(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The Python that runs yamllint (Debian's, with PyYAML): read from yamllint's `#!` line. */
function pyyamlPython(): string {
  const shebang = fs.readFileSync(findBinary('yamllint')!, 'utf8').split('\n')[0]!;
  return shebang.replace(/^#!\s*/, '').split(/\s+/)[0]!;
}

/** PyYAML's safe_load over each file: '' when every file loads, otherwise the errors. */
function pyyamlErrors(files: string[]): string {
  const script =
    'import sys, yaml\nfor f in sys.argv[1:]:\n  try:\n    list(yaml.safe_load_all(open(f)))\n  except Exception as e:\n    print(f + ": " + str(e).replace("\\n", " "))\n';
  const result = spawnSync(pyyamlPython(), ['-c', script, ...files], { encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  return `${result.stdout}${result.stderr}`.trim();
}

const YAMLLINT_CONFIG =
  '{extends: relaxed, rules: {line-length: disable, truthy: {check-keys: false, level: error}, key-duplicates: {level: error}}}';

describe('stack: checked by the real tools (docker-compose, collector schemas, PyYAML, yamllint, amtool)', function () {
  this.timeout(60_000);
  needsTools();

  it('docker-compose.yml passes `docker-compose config -q` (compose parser and schema of docker-compose 1.29)', () => {
    const result = runTool('docker-compose', ['-f', repoPath('docker-compose.yml'), 'config', '-q']);
    expect(result.output).to.equal('');
    expect(result.status).to.equal(0);
  });

  it('control: docker-compose refuses a compose file with an unknown service key', () => {
    const broken = readText('docker-compose.yml').replace(
      '    image: prom/alertmanager:',
      '    imagee: prom/alertmanager:',
    );
    const result = withTempCopy('docker-compose.yml', broken, (file) =>
      runTool('docker-compose', ['-f', file, 'config', '-q']),
    );
    expect(result.status).to.not.equal(0);
    expect(result.output).to.include("Unsupported config option for services.alertmanager: 'imagee'");
  });

  it("otel-collector.yaml uses only keys and value types of the components' published config schemas", () => {
    const { components } = JSON.parse(readText(COLLECTOR_SCHEMA)) as { components: Record<string, SchemaNode> };
    const config = readYaml('otel-collector.yaml');
    let checked = 0;
    for (const kind of COMPONENT_KINDS) {
      for (const [id, settings] of Object.entries((config[kind] ?? {}) as Record<string, unknown>)) {
        const schema = components[`${kind}/${id.split('/')[0]}`];
        expect(schema, `${kind}/${id}: no schema for this component type`).to.exist;
        expect(schemaProblems(settings ?? {}, schema!, `${kind}.${id}`)).to.deep.equal([]);
        checked += 1;
      }
    }
    expect(checked).to.equal(6);
  });

  it('control: the schema check names a misspelt key and a value of the wrong type', () => {
    const { components } = JSON.parse(readText(COLLECTOR_SCHEMA)) as { components: Record<string, SchemaNode> };
    expect(
      schemaProblems(
        { check_intervall: '1s', limit_mib: '400' },
        components['processors/memory_limiter']!,
        'processors.memory_limiter',
      ),
    ).to.deep.equal([
      'processors.memory_limiter.check_intervall: unknown key (known: check_interval, limit_mib, limit_percentage, max_gc_interval_when_hard_limited, max_gc_interval_when_soft_limited, min_gc_interval_when_hard_limited, min_gc_interval_when_soft_limited, spike_limit_mib, spike_limit_percentage)',
      'processors.memory_limiter.limit_mib: expected an integer, got "400"',
    ]);
    expect(
      schemaProblems({ tls: { insecure: 'yes' } }, components['exporters/otlp_grpc']!, 'exporters.otlp_grpc/tempo'),
    ).to.deep.equal(['exporters.otlp_grpc/tempo.tls.insecure: expected true or false, got "yes"']);
  });

  it('every stack YAML file loads with PyYAML (what Ansible and yamllint read YAML 1.1 with)', () => {
    const files = stackYamlFiles();
    expect(files).to.include.members([
      'grafana/provisioning/alerting/notification-policies.yaml',
      'otel-collector.yaml',
      'docker-compose.yml',
    ]);
    expect(pyyamlErrors(files.map((file) => repoPath(file)))).to.equal('');
  });

  it('control: PyYAML refuses a plain `=` scalar (the notification policy as it was generated before)', () => {
    const unquoted = readText('grafana/provisioning/alerting/notification-policies.yaml').replace('- "="', '- =');
    const errors = withTempCopy('policies.yaml', unquoted, (file) => pyyamlErrors([file]));
    expect(errors).to.include("could not determine a constructor for the tag 'tag:yaml.org,2002:value'");
  });

  it('every stack YAML file passes yamllint (no duplicate keys, no yes/no/on/off truthy values)', () => {
    const result = runTool('yamllint', [
      '-s',
      '-f',
      'parsable',
      '-d',
      YAMLLINT_CONFIG,
      ...stackYamlFiles().map((file) => repoPath(file)),
    ]);
    expect(result.output).to.equal('');
    expect(result.status).to.equal(0);
  });

  it('has no plain scalar that a YAML 1.1 reader resolves to something else than the string written', () => {
    const files = stackYamlFiles();
    expect(files, 'the files checked').to.include.members([
      'grafana/provisioning/alerting/notification-policies.yaml',
      'otel-collector.yaml',
      'docker-compose.yml',
    ]);
    for (const file of files) {
      const doc = YAML.parseDocument(readText(file), { version: '1.1' });
      expect(doc.errors.map(String), file).to.deep.equal([]);
      YAML.visit(doc, {
        Scalar(_key, node) {
          if (node.type === 'PLAIN' && typeof node.source === 'string') {
            expect(['=', '<<'].includes(node.source), `${file}: plain ${node.source}`).to.equal(false);
          }
        },
      });
    }
  });

  it('alertmanager/alertmanager.yml passes `amtool check-config`', () => {
    const result = runTool('amtool', ['check-config', repoPath('alertmanager/alertmanager.yml')]);
    expect(result.status, result.output).to.equal(0);
    expect(result.output).to.include('SUCCESS');
  });
});
