import { ROOT_CONTEXT, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import * as tracing from '@opentelemetry/sdk-trace';
import { expect } from 'chai';
import { OutcomeSpanProcessor } from '../../src/telemetry/outcome-processor';

/** A tracer of its own (not the global one) feeding one outcome processor with tiny bounds; ratio 0. */
function setUp(limits: { maxTraces: number; maxSpans: number }) {
  const exporter = new tracing.InMemorySpanExporter();
  const processor = new OutcomeSpanProcessor(
    [new tracing.SimpleSpanProcessor({ exporter })],
    { mode: 'outcome', acceptedRatio: 0 },
    limits,
  );
  const tracer = new tracing.TracerProvider({ spanProcessors: [processor] }).getTracer('test');
  const child = (parent: Span, name: string) => tracer.startSpan(name, {}, trace.setSpan(ROOT_CONTEXT, parent));
  const names = () => exporter.getFinishedSpans().map((span) => span.name);
  return { processor, tracer, child, names };
}

describe('the outcome span processor holds a bounded number of spans', () => {
  it('exports nothing of a trace without failure, and everything of one with a failure anywhere', () => {
    const { processor, tracer, child, names } = setUp({ maxTraces: 10, maxSpans: 100 });
    const ok = tracer.startSpan('ok');
    child(ok, 'ok.child').end();
    ok.end();
    const bad = tracer.startSpan('bad');
    const failing = child(bad, 'bad.child');
    child(bad, 'bad.before').end();
    failing.setStatus({ code: SpanStatusCode.ERROR });
    failing.end();
    bad.end();
    expect(names()).to.deep.equal(['bad.before', 'bad.child', 'bad']);
    expect(processor.holding).to.deep.equal({ traces: 0, spans: 0 });
  });

  it('drops, and counts, the spans of a trace that found no room among maxTraces', () => {
    const { processor, tracer, child, names } = setUp({ maxTraces: 2, maxSpans: 100 });
    const roots = ['a', 'b', 'c'].map((name) => tracer.startSpan(name));
    expect(processor.holding.traces).to.equal(2);
    child(roots[2]!, 'c.child').end();
    for (const root of roots) {
      root.setStatus({ code: SpanStatusCode.ERROR });
      root.end();
    }
    expect(names()).to.deep.equal(['a', 'b']);
    expect(processor.dropped).to.deep.equal({ buffer_full: 2, export_queue_full: 0 });
    expect(processor.holding).to.deep.equal({ traces: 0, spans: 0 });
  });

  it('holds at most maxSpans ended spans; the ones beyond are dropped and counted', () => {
    const { processor, tracer, child, names } = setUp({ maxTraces: 10, maxSpans: 3 });
    const root = tracer.startSpan('root');
    for (let i = 0; i < 5; i++) child(root, `child${i}`).end();
    expect(processor.holding).to.deep.equal({ traces: 1, spans: 3 });
    root.setStatus({ code: SpanStatusCode.ERROR });
    root.end();
    expect(names()).to.deep.equal(['child0', 'child1', 'child2', 'root']);
    expect(processor.dropped.buffer_full).to.equal(2);
    expect(processor.holding).to.deep.equal({ traces: 0, spans: 0 });
  });
});
