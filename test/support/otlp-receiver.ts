import type http from 'node:http';
import { LoopbackHttpServer } from './loopback-http';
import type { JsonRecord } from './ndjson';

/** An OTLP attribute value as OTLP/JSON encodes it. */
type AnyValue = {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
};
type KeyValue = { key: string; value: AnyValue };

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  status: { code?: number; message?: string };
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

export interface ReceivedLog {
  traceId: string;
  spanId: string;
  severityText: string;
  body: unknown;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

export type ReceiverMode = 'accept' | 'hang' | 'fail';

/**
 * A real OTLP/HTTP receiver (JSON encoding) on loopback: what the service exports when
 * OTEL_EXPORTER_OTLP_ENDPOINT points here with OTEL_EXPORTER_OTLP_PROTOCOL=http/json.
 * `hang` accepts connections and never answers; `fail` answers 503.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly logs: ReceivedLog[] = [];
  /** Every request seen: path and content type. */
  readonly requests: Array<{ path: string; contentType: string }> = [];
  mode: ReceiverMode = 'accept';
  private readonly hanging = new Set<http.ServerResponse>();
  private readonly server = new LoopbackHttpServer((request, body, response) => this.receive(request, body, response));

  get url(): string {
    return this.server.url;
  }

  async start(): Promise<this> {
    await this.server.start();
    return this;
  }

  async stop(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.hanging.clear();
    await this.server.stop();
  }

  private receive(request: http.IncomingMessage, body: Buffer, response: http.ServerResponse): void {
    const contentType = String(request.headers['content-type'] ?? '');
    this.requests.push({ path: request.url ?? '', contentType });
    if (this.mode === 'hang') {
      this.hanging.add(response);
      return;
    }
    if (this.mode === 'fail') {
      response.writeHead(503).end();
      return;
    }
    if (contentType.includes('json')) {
      const payload = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      if (request.url === '/v1/traces') this.collectSpans(payload);
      if (request.url === '/v1/logs') this.collectLogs(payload);
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  }

  async waitFor<T>(probe: () => T | undefined | false, timeoutMs = 15000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value) return value;
      if (Date.now() > deadline) {
        throw new Error(
          `OTLP receiver: condition not met in ${timeoutMs} ms (${this.spans.length} spans, ${this.logs.length} logs received)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private collectSpans(payload: Record<string, unknown>): void {
    for (const resourceSpans of (payload.resourceSpans as JsonRecord[] | undefined) ?? []) {
      const resource = attributeMap(resourceSpans.resource?.attributes);
      for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
        for (const span of scopeSpans.spans ?? []) {
          this.spans.push({
            traceId: String(span.traceId ?? ''),
            spanId: String(span.spanId ?? ''),
            parentSpanId: String(span.parentSpanId ?? ''),
            name: String(span.name),
            kind: Number(span.kind ?? 0),
            status: span.status ?? {},
            attributes: attributeMap(span.attributes),
            resource,
          });
        }
      }
    }
  }

  private collectLogs(payload: Record<string, unknown>): void {
    for (const resourceLogs of (payload.resourceLogs as JsonRecord[] | undefined) ?? []) {
      const resource = attributeMap(resourceLogs.resource?.attributes);
      for (const scopeLogs of resourceLogs.scopeLogs ?? []) {
        for (const record of scopeLogs.logRecords ?? []) {
          this.logs.push({
            traceId: String(record.traceId ?? ''),
            spanId: String(record.spanId ?? ''),
            severityText: String(record.severityText ?? ''),
            body: record.body ? anyValue(record.body) : undefined,
            attributes: attributeMap(record.attributes),
            resource,
          });
        }
      }
    }
  }
}

function attributeMap(list: KeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) out[key] = anyValue(value);
  return out;
}

function anyValue(value: AnyValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(anyValue);
  if (value.kvlistValue) return attributeMap(value.kvlistValue.values);
  return undefined;
}
