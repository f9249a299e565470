import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { EXEMPLAR_TRACE_ID_LABEL } from '../../src/vocabulary/names';
import { readYamlFile } from './support/generated-expressions';
import { repoPath } from './support/tools';

const FILE = 'grafana/provisioning/datasources/datasources.yaml';

interface Datasource {
  name: string;
  type: string;
  uid: string;
  url: string;
  jsonData: Record<string, unknown>;
}

describe('Grafana datasources (provisioning)', () => {
  const file = readYamlFile(FILE) as { apiVersion: number; datasources: Datasource[] };
  const byUid = (uid: string) => file.datasources.find((datasource) => datasource.uid === uid)!;

  it('provide Prometheus, Tempo and Loki under the uids and URLs the compose stack relies on', () => {
    expect(file.apiVersion).to.equal(1);
    const summary = file.datasources.map(({ type, uid, url }) => ({ type, uid, url }));
    expect(summary).to.have.deep.members([
      { type: 'prometheus', uid: 'prometheus', url: 'http://prometheus:9090' },
      { type: 'tempo', uid: 'tempo', url: 'http://tempo:3200' },
      { type: 'loki', uid: 'loki', url: 'http://loki:3100' },
    ]);
  });

  it('link Prometheus exemplars to Tempo by the exemplar trace-id label', () => {
    expect(byUid('prometheus').jsonData.exemplarTraceIdDestinations).to.deep.include.members([
      { name: EXEMPLAR_TRACE_ID_LABEL, datasourceUid: 'tempo', urlDisplayLabel: 'Open trace' },
    ]);
  });

  it('link Tempo traces to Loki logs by the trace_id structured metadata that OTLP logs carry', () => {
    const tracesToLogs = byUid('tempo').jsonData.tracesToLogsV2 as {
      datasourceUid: string;
      customQuery: boolean;
      query: string;
    };
    expect(tracesToLogs).to.deep.include({ datasourceUid: 'loki', customQuery: true });
    // A line filter would search the log line, where OTLP-ingested logs have no trace id.
    expect(tracesToLogs).not.to.have.property('filterByTraceID');
    expect(tracesToLogs.query.replace(/\$\$/g, '$')).to.equal(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own ${__span…} variables, literal in its query
      '{service_name="${__span.tags["service.name"]}"} | trace_id="${__span.traceId}"',
    );
  });

  it('turn trace_id (structured metadata, or in a JSON log line) into a Tempo link', () => {
    type Field = { matcherType?: string; matcherRegex: string; datasourceUid: string; url: string };
    const [metadata, inLine] = byUid('loki').jsonData.derivedFields as Field[];
    expect(metadata).to.deep.include({ matcherType: 'label', matcherRegex: 'trace_id', datasourceUid: 'tempo' });
    const field = inLine!;
    expect(field.matcherType).to.equal(undefined);
    expect(field.datasourceUid).to.equal('tempo');
    // Grafana expands $VAR in provisioning files; `$$` stands for one literal `$`.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own ${__value.raw} data-link variable, literal
    for (const { url } of [metadata!, field]) expect(url.replace(/\$\$/g, '$')).to.equal('${__value.raw}');
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const line = JSON.stringify({
      timestamp: '2026-01-01T00:00:00.000Z',
      level: 'warn',
      message: 'token verification failed',
      result: 'missing',
      received: 'none',
      trace_id: traceId,
      span_id: '00f067aa0ba902b7',
    });
    expect(new RegExp(field.matcherRegex).exec(line)?.[1]).to.equal(traceId);
    expect(new RegExp(field.matcherRegex).exec('{"level":"info","message":"listening"}')).to.equal(null);
  });

  it('leave no unescaped `$` for Grafana to expand', () => {
    const text = readFileSync(repoPath(FILE), 'utf8');
    expect(text.replace(/\$\$/g, '')).to.not.include('$');
  });
});
