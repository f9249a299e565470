// A lightweight OTLP/HTTP receiver for the benchmark: answers 200 at once and only counts what arrives
// (export requests, bytes, spans and log records), so hundreds of thousands of spans cost the bench
// process almost nothing. The full receiver that keeps every span is test/support/otlp-receiver.ts.
// Counts items in both encodings: OTLP/JSON (by key) and OTLP/protobuf (by walking the wire format).

import { LoopbackHttpServer } from '../../test/support/loopback-http';

export interface SinkCounts {
  requests: number;
  bytes: number;
  spans: number;
  logRecords: number;
  byPath: Record<string, number>;
}

export class OtlpSink {
  readonly counts: SinkCounts = { requests: 0, bytes: 0, spans: 0, logRecords: 0, byPath: {} };
  private readonly server = new LoopbackHttpServer((request, body, response) => {
    const path = request.url ?? '';
    const contentType = String(request.headers['content-type'] ?? '');
    this.counts.requests++;
    this.counts.bytes += body.length;
    this.counts.byPath[path] = (this.counts.byPath[path] ?? 0) + 1;
    if (path === '/v1/traces') this.counts.spans += countItems(body, contentType, 'spans');
    if (path === '/v1/logs') this.counts.logRecords += countItems(body, contentType, 'logs');
    response.writeHead(200, { 'content-type': contentType || 'application/json' }).end();
  });

  get url(): string {
    return this.server.url;
  }

  async start(): Promise<this> {
    await this.server.start();
    return this;
  }

  stop(): Promise<void> {
    return this.server.stop();
  }
}

/** Spans in an ExportTraceServiceRequest, or log records in an ExportLogsServiceRequest. */
export function countItems(body: Buffer, contentType: string, kind: 'spans' | 'logs'): number {
  if (contentType.includes('json')) {
    const key = kind === 'spans' ? /"spanId"\s*:/g : /"observedTimeUnixNano"\s*:/g;
    return body.toString('utf8').match(key)?.length ?? 0;
  }
  // protobuf: request{1: Resource*} -> Resource*{2: Scope*} -> Scope*{2: item}; the same shape for traces and logs.
  let count = 0;
  try {
    for (const resource of fields(body, 1)) {
      for (const scope of fields(resource, 2)) count += fields(scope, 2).length;
    }
  } catch {
    return 0;
  }
  return count;
}

/** The length-delimited values of one field number in a protobuf message. */
function fields(buf: Buffer, wanted: number): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      const byte = buf[pos++];
      if (byte === undefined) throw new Error('truncated varint');
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
    }
    throw new Error('varint too long');
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const length = varint();
      if (field === wanted) out.push(buf.subarray(pos, pos + length));
      pos += length;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}
