// The exporters OTEL_TRACES_EXPORTER and the OTLP protocol variables choose, built from the exporters' public
// packages: each OTLP protocol checked by what a real loopback receiver gets.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TracerProvider, BatchSpanProcessor, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { expect } from 'chai';
import { spanProcessorsFromEnv } from '../../src/telemetry/trace-exporters';

describe('span processors from the environment', () => {
  it('otlp by default, console on request, none alone for nothing, none among others ignored', () => {
    const kinds = (value: string | undefined) =>
      spanProcessorsFromEnv({ OTEL_TRACES_EXPORTER: value }).map((processor) =>
        processor instanceof BatchSpanProcessor
          ? 'batch'
          : processor instanceof SimpleSpanProcessor
            ? 'simple'
            : 'other',
      );
    expect(kinds(undefined)).to.deep.equal(['batch']);
    expect(kinds('')).to.deep.equal(['batch']);
    expect(kinds('none')).to.deep.equal([]);
    expect(kinds('console')).to.deep.equal(['simple']);
    expect(kinds('otlp, console')).to.deep.equal(['batch', 'simple']);
    expect(kinds('none,console')).to.deep.equal(['batch']);
    expect(kinds('zipkin')).to.deep.equal([]);
  });

  for (const [protocol, contentType] of [
    [undefined, 'application/x-protobuf'],
    ['http/protobuf', 'application/x-protobuf'],
    ['http/json', 'application/json'],
  ] as const) {
    it(`exports over OTLP ${protocol ?? '(unset: http/protobuf)'} to the configured endpoint`, async () => {
      const received: Array<{ path: string; contentType: string | undefined }> = [];
      const server = http.createServer((request, response) => {
        received.push({ path: request.url ?? '', contentType: request.headers['content-type'] });
        request.resume().on('end', () => response.writeHead(200, { 'content-type': contentType }).end());
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
      const saved = { ...process.env };
      // The exporters read their endpoint from the process environment, as in the service.
      process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = endpoint;
      try {
        const env = {
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpoint,
          ...(protocol ? { OTEL_EXPORTER_OTLP_PROTOCOL: protocol } : {}),
        };
        const provider = new TracerProvider({ spanProcessors: spanProcessorsFromEnv(env) });
        provider.getTracer('test').startSpan('one').end();
        await provider.forceFlush();
        await provider.shutdown();
        expect(received).to.deep.equal([{ path: '/v1/traces', contentType }]);
      } finally {
        process.env = saved;
        server.close();
      }
    });
  }
});
