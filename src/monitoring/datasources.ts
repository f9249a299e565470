// Grafana datasources wired for metric → trace → log navigation.
import { EXEMPLAR_TRACE_ID_LABEL } from '../vocabulary/names';
import { DATASOURCE } from './constants';

/** Matches `"trace_id":"<32 hex>"` in JSON log lines (and `trace_id=<hex>` in logfmt). */
export const LOG_TRACE_ID_REGEX = '(?:"trace_id"\\s*:\\s*"|trace_id=)([0-9a-f]{32})';

// Grafana expands $VAR in provisioning files; `$$` keeps a literal `$`.
const escapeDollar = (text: string) => text.replace(/\$/g, '$$$$');

export function grafanaDatasourceFile() {
  const { prometheus, tempo, loki } = DATASOURCE;
  return {
    apiVersion: 1,
    datasources: [
      {
        name: prometheus.name,
        type: prometheus.type,
        uid: prometheus.uid,
        access: 'proxy',
        url: prometheus.url,
        isDefault: true,
        editable: false,
        jsonData: {
          httpMethod: 'POST',
          exemplarTraceIdDestinations: [
            { name: EXEMPLAR_TRACE_ID_LABEL, datasourceUid: tempo.uid, urlDisplayLabel: 'Open trace' },
          ],
        },
      },
      {
        name: tempo.name,
        type: tempo.type,
        uid: tempo.uid,
        access: 'proxy',
        url: tempo.url,
        editable: false,
        jsonData: {
          // Loki keeps trace_id of OTLP logs as structured metadata, not in the line, so a line filter
          // (filterByTraceID) finds nothing: the query filters on the metadata instead.
          tracesToLogsV2: {
            datasourceUid: loki.uid,
            spanStartTimeShift: '-5m',
            spanEndTimeShift: '5m',
            tags: [{ key: 'service.name', value: 'service_name' }],
            customQuery: true,
            query: escapeDollar(
              `{service_name="\${__span.tags["service.name"]}"} | ${EXEMPLAR_TRACE_ID_LABEL}="\${__span.traceId}"`,
            ),
          },
          tracesToMetrics: { datasourceUid: prometheus.uid },
          serviceMap: { datasourceUid: prometheus.uid },
          nodeGraph: { enabled: true },
          search: { hide: false },
        },
      },
      {
        name: loki.name,
        type: loki.type,
        uid: loki.uid,
        access: 'proxy',
        url: loki.url,
        editable: false,
        jsonData: {
          derivedFields: [
            {
              // OTLP logs (this stack): trace_id is structured metadata.
              name: 'TraceID',
              matcherType: 'label',
              matcherRegex: EXEMPLAR_TRACE_ID_LABEL,
              datasourceUid: tempo.uid,
              // biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana data-link variable, literal by design
              url: escapeDollar('${__value.raw}'),
              urlDisplayLabel: 'Open trace',
            },
            {
              // JSON lines shipped from stdout by another agent: trace_id is in the line.
              name: 'TraceID in line',
              matcherRegex: LOG_TRACE_ID_REGEX,
              datasourceUid: tempo.uid,
              // biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana data-link variable, literal by design
              url: escapeDollar('${__value.raw}'),
              urlDisplayLabel: 'Open trace',
            },
          ],
        },
      },
    ],
  };
}
