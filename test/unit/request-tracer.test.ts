import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  context,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import * as tracing from '@opentelemetry/sdk-trace';
import { expect } from 'chai';
import { OutcomeSpanProcessor } from '../../src/telemetry/outcome-processor';
import type { RecordedSpan } from '../../src/telemetry/recorded-span';
import { RequestIdGenerator } from '../../src/telemetry/request-ids';
import { startChildOf, startChildSpan } from '../../src/telemetry/request-spans';
import { RequestTracer } from '../../src/telemetry/request-tracer';
import type { SamplingPolicy } from '../../src/telemetry/sampling';

/** Trace ids whose last 32 bits put them outside (…ffffffff) and inside (…00000001) any ratio between 0 and 1. */
const OUTSIDE = '4bf92f3577b34da6a3ce929dffffffff';
const INSIDE = '4bf92f3577b34da6a3ce929d00000001';

/** A provider of its own, as startTelemetry sets one up (outcome processor, request id generator, every span sampled); spans counted as they start. */
function setUp(policy: SamplingPolicy = { mode: 'outcome', acceptedRatio: 0.1 }) {
  const exporter = new tracing.InMemorySpanExporter();
  const started: string[] = [];
  const counting: tracing.SpanProcessor = {
    onStart: (span) => void started.push(span.name),
    onEnd: () => undefined,
    forceFlush: async () => undefined,
    shutdown: async () => undefined,
  };
  const outcome = new OutcomeSpanProcessor([counting, new tracing.SimpleSpanProcessor({ exporter })], policy);
  const ids = new RequestIdGenerator();
  const tracer = new tracing.TracerProvider({
    spanProcessors: [outcome],
    idGenerator: ids,
    sampler: new tracing.AlwaysOnSampler(),
  }).getTracer('test');
  const requests = new RequestTracer(outcome, ids);
  const remote = (traceId: string, flags = TraceFlags.NONE) => ({
    traceId,
    spanId: '00f067aa0ba902b7',
    traceFlags: flags,
    isRemote: true,
  });
  /** A request's server span, recorded, and the context the app passes on. */
  const request = (traceId?: string, flags?: number) => {
    const recorded = requests.start(traceId ? remote(traceId, flags) : undefined);
    const server = recorded.startSpan(tracer, 'POST /hook', SpanKind.SERVER, { 'http.request.method': 'POST' });
    return { recorded, server, serverContext: trace.setSpan(ROOT_CONTEXT, server) as Context };
  };
  return { exporter, started, outcome, tracer, request };
}

/** verify → three extract children, then a store write: the shape of a delivery. */
function delivery(tracer: ReturnType<typeof setUp>['tracer'], serverContext: Context, refused: boolean): void {
  const verify = startChildSpan(tracer, 'bitrix.token.verify', serverContext);
  for (const source of ['body', 'query', 'header']) {
    const extract = startChildOf(tracer, `bitrix.token.extract.${source}`, verify);
    extract.setAttributes({ 'bitrix.token.source': source, 'bitrix.token.found': source === 'body' });
    extract.end();
  }
  verify.setAttribute('bitrix.verification.result', refused ? 'mismatched' : 'accepted');
  if (refused) verify.setStatus({ code: SpanStatusCode.ERROR, message: 'mismatched' });
  verify.end();
  if (refused) return;
  const store = startChildSpan(tracer, 'bitrix.store.write', serverContext, { 'bitrix.store.kind': 'accepted' });
  store.addEvent('written', { rows: 1 });
  store.end();
}

describe('request spans recorded as data, built only for exported traces', () => {
  it('makes no SDK span at all for an accepted delivery outside the ratio, and holds nothing after it', () => {
    const { exporter, started, outcome, tracer, request } = setUp();
    const { server, serverContext } = request(OUTSIDE);
    delivery(tracer, serverContext, false);
    expect(outcome.exported(OUTSIDE)).to.equal(false);
    server.setAttribute('http.response.status_code', 200);
    server.end();
    expect(started).to.deep.equal([]);
    expect(exporter.getFinishedSpans()).to.deep.equal([]);
    expect(outcome.holding).to.deep.equal({ traces: 0, spans: 0 });
  });

  it('builds a refused delivery with the same tree, ids, times, names, kinds, attributes, events and statuses', () => {
    const { exporter, tracer, request } = setUp();
    const { server, serverContext } = request(OUTSIDE);
    delivery(tracer, serverContext, true);
    server.setAttribute('http.response.status_code', 403);
    server.updateName('POST /api/bitrix/webhook');
    server.end();
    const spans = exporter.getFinishedSpans();
    expect(spans.map((span) => span.name)).to.deep.equal([
      'bitrix.token.extract.body',
      'bitrix.token.extract.query',
      'bitrix.token.extract.header',
      'bitrix.token.verify',
      'POST /api/bitrix/webhook',
    ]);
    const byName = new Map(spans.map((span) => [span.name, span]));
    const root = byName.get('POST /api/bitrix/webhook')!;
    const verify = byName.get('bitrix.token.verify')!;
    expect(root.spanContext()).to.include({ traceId: OUTSIDE, spanId: server.spanContext().spanId });
    expect(root.kind).to.equal(SpanKind.SERVER);
    expect(root.parentSpanContext).to.include({ spanId: '00f067aa0ba902b7', isRemote: true });
    expect(root.attributes).to.deep.equal({ 'http.request.method': 'POST', 'http.response.status_code': 403 });
    expect(verify.parentSpanContext?.spanId).to.equal(root.spanContext().spanId);
    expect(verify.status).to.deep.equal({ code: SpanStatusCode.ERROR, message: 'mismatched' });
    expect(verify.kind).to.equal(SpanKind.INTERNAL);
    for (const name of ['body', 'query', 'header']) {
      const extract = byName.get(`bitrix.token.extract.${name}`)!;
      expect(extract.parentSpanContext?.spanId).to.equal(verify.spanContext().spanId);
      expect(extract.attributes).to.deep.equal({ 'bitrix.token.source': name, 'bitrix.token.found': name === 'body' });
    }
    // The recorded times, not the time of the build: the root spans its children.
    const ms = (time: [number, number]) => time[0] * 1e3 + time[1] / 1e6;
    expect(ms(root.startTime)).to.be.at.most(ms(verify.startTime));
    expect(ms(verify.endTime)).to.be.at.most(ms(root.endTime));
    expect(Math.abs(ms(root.startTime) - (server as RecordedSpan).startTime)).to.be.below(1);
    expect(Math.abs(ms(root.endTime) - (server as RecordedSpan).endTime!)).to.be.below(1);
  });

  it('exports an accepted delivery inside the ratio in full, with its events and a fresh trace id as root', () => {
    const { exporter, tracer, request } = setUp();
    const { recorded, server, serverContext } = request(INSIDE);
    delivery(tracer, serverContext, false);
    server.end();
    const spans = exporter.getFinishedSpans();
    expect(spans.map((span) => span.name)).to.include.members(['bitrix.store.write', 'POST /hook']);
    const store = spans.find((span) => span.name === 'bitrix.store.write')!;
    expect(store.events.map((event) => [event.name, event.attributes])).to.deep.equal([['written', { rows: 1 }]]);
    expect(store.attributes).to.deep.equal({ 'bitrix.store.kind': 'accepted' });
    expect(recorded.traceId).to.equal(INSIDE);

    exporter.reset();
    const fresh = setUp({ mode: 'all' });
    const own = fresh.request();
    own.server.end();
    const [root] = fresh.exporter.getFinishedSpans();
    expect(root!.spanContext()).to.deep.include({
      traceId: own.recorded.traceId,
      spanId: own.server.spanContext().spanId,
    });
    expect(root!.parentSpanContext).to.equal(undefined);
  });

  it('exports an accepted delivery outside the ratio when a warning about it was logged (mustKeep), or the caller sampled it', () => {
    const { exporter, outcome, tracer, request } = setUp({ mode: 'outcome', acceptedRatio: 0 });
    const warned = request(OUTSIDE);
    delivery(tracer, warned.serverContext, false);
    expect(outcome.exported(OUTSIDE, true)).to.equal(true);
    warned.server.end();
    expect(exporter.getFinishedSpans()).to.have.length(6);
    exporter.reset();
    const sampled = request(INSIDE, TraceFlags.SAMPLED);
    expect(outcome.exported(INSIDE)).to.equal(true);
    sampled.server.end();
    expect(exporter.getFinishedSpans().map((span) => span.name)).to.deep.equal(['POST /hook']);
  });

  it('exports nothing under always_off: the spans do not record, the ids stay valid, unsampled', () => {
    const { exporter, started, outcome, tracer, request } = setUp({ mode: 'none' });
    const { server, serverContext } = request(OUTSIDE);
    expect(server.isRecording()).to.equal(false);
    expect(server.spanContext()).to.include({ traceId: OUTSIDE, traceFlags: TraceFlags.NONE });
    delivery(tracer, serverContext, true);
    server.end();
    expect(started).to.deep.equal([]);
    expect(exporter.getFinishedSpans()).to.deep.equal([]);
    expect(outcome.holding).to.deep.equal({ traces: 0, spans: 0 });
  });

  it('settles when the last span ends: a store write outliving its server span is exported under it', () => {
    const { exporter, tracer, request } = setUp({ mode: 'outcome', acceptedRatio: 0 });
    const { server, serverContext } = request(OUTSIDE);
    const store = startChildSpan(tracer, 'bitrix.store.write', serverContext);
    server.setStatus({ code: SpanStatusCode.ERROR, message: 'connection closed before the response was finished' });
    server.end();
    expect(exporter.getFinishedSpans()).to.deep.equal([]);
    store.end();
    const spans = exporter.getFinishedSpans();
    expect(spans.map((span) => span.name)).to.deep.equal(['bitrix.store.write', 'POST /hook']);
    expect(spans[0]!.parentSpanContext?.spanId).to.equal(spans[1]!.spanContext().spanId);
  });

  it('decides a span started after its trace was settled on its own, under the exported parent', () => {
    const { exporter, tracer, request } = setUp({ mode: 'outcome', acceptedRatio: 0 });
    const { server, serverContext } = request(OUTSIDE);
    server.setAttribute('http.response.status_code', 499);
    server.end();
    expect(exporter.getFinishedSpans().map((span) => span.name)).to.deep.equal(['POST /hook']);
    const late = startChildSpan(tracer, 'bitrix.token.verify', serverContext);
    startChildOf(tracer, 'bitrix.token.extract.body', late).end();
    late.end();
    const spans = exporter.getFinishedSpans();
    expect(spans.map((span) => span.name)).to.deep.equal([
      'POST /hook',
      'bitrix.token.extract.body',
      'bitrix.token.verify',
    ]);
    expect(spans[2]!.parentSpanContext?.spanId).to.equal(server.spanContext().spanId);
    expect(spans[1]!.parentSpanContext?.spanId).to.equal(spans[2]!.spanContext().spanId);
  });

  it('holds an SDK span made inside a recorded trace (a pg query) until the trace is decided', () => {
    for (const refused of [false, true]) {
      const { exporter, outcome, tracer, request } = setUp({ mode: 'outcome', acceptedRatio: 0 });
      const { server, serverContext } = request(OUTSIDE);
      const store = startChildSpan(tracer, 'bitrix.store.write', serverContext);
      const query: Span = context.with(trace.setSpan(ROOT_CONTEXT, store), () =>
        tracer.startSpan('pg.query', { kind: SpanKind.CLIENT }),
      );
      query.end();
      expect(outcome.holding).to.deep.equal({ traces: 1, spans: 1 });
      store.end();
      server.setAttribute('http.response.status_code', refused ? 401 : 200);
      server.end();
      expect(outcome.holding).to.deep.equal({ traces: 0, spans: 0 });
      const spans = exporter.getFinishedSpans();
      if (!refused) {
        expect(spans).to.deep.equal([]);
        continue;
      }
      expect(spans.map((span) => span.name)).to.deep.equal(['bitrix.store.write', 'POST /hook', 'pg.query']);
      expect(spans[2]!.parentSpanContext?.spanId).to.equal(spans[0]!.spanContext().spanId);
    }
  });
});
