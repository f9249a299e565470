import { expect } from 'chai';
import Transport from 'winston-transport';
import { createThrottledReporter, REPORT_INTERVAL_MS } from '../../src/telemetry/diagnostics';
import { createLogger } from '../../src/telemetry/logger';

class Lines extends Transport {
  readonly lines: Array<Record<string, unknown>> = [];
  override log(info: Record<string | symbol, unknown>, callback: () => void): void {
    this.lines.push(JSON.parse(String(info[Symbol.for('message')])) as Record<string, unknown>);
    callback();
  }
}

describe('telemetry trouble reporting', () => {
  it('reports one warning per kind of trouble per interval, then the number of repeats it held back', () => {
    const sink = new Lines();
    let now = 1_000_000;
    const report = createThrottledReporter(
      createLogger('info', [sink]),
      'traces: otlp http/protobuf to http://collector:4318',
      () => now,
    );
    for (let i = 0; i < 500; i++) report('telemetry export failing', `connect ECONNREFUSED 10.0.0.${i % 7}:4318`);
    report('telemetry export or SDK problem', 'Unsupported OTEL_TRACES_EXPORTER value');
    expect(sink.lines.map((line) => line.message)).to.deep.equal([
      'telemetry export failing: connect ECONNREFUSED 10.0.0.0:4318',
      'telemetry export or SDK problem: Unsupported OTEL_TRACES_EXPORTER value',
    ]);
    expect(sink.lines[0]).to.include({
      level: 'warn',
      telemetry_destination: 'traces: otlp http/protobuf to http://collector:4318',
      repeats_since_last_report: 0,
      deliveries_affected: false,
    });
    now += REPORT_INTERVAL_MS;
    report('telemetry export failing', 'connect ECONNREFUSED 10.0.0.1:4318');
    expect(sink.lines).to.have.length(3);
    expect(sink.lines[2]!.repeats_since_last_report).to.equal(499);
  });

  it('throttles the SDK\'s "ended Span" warning, which names a different span each time', () => {
    const sink = new Lines();
    const now = 1_000_000;
    const report = createThrottledReporter(createLogger('info', [sink]), 'traces: none', () => now);
    for (let i = 0; i < 1000; i++) {
      const traceId = (i * 7919).toString(16).padStart(32, 'a');
      const spanId = (i * 104729).toString(16).padStart(16, 'b');
      report(
        'telemetry export or SDK problem',
        `Can not execute the operation on ended Span {traceId: ${traceId}, spanId: ${spanId}}`,
      );
    }
    expect(sink.lines).to.have.length(1);
    expect(sink.lines[0]!.message).to.match(
      /^telemetry export or SDK problem: Can not execute the operation on ended Span/,
    );
  });
});
