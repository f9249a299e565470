import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { boundText } from './bound-text';
import { SERVER_SPAN_INSTRUMENTATION } from '../vocabulary/names';
import { RecordedSpan, nowMillis } from './recorded-span';
import type { RequestTracer } from './request-tracer';
import { redactQueryValues } from './redact';

/** Requests that are not deliveries: tracing them only adds noise to the trace store. */
export const UNTRACED_PATHS = new Set(['/metrics', '/healthz', '/readyz']);

const serverTracer = trace.getTracer(SERVER_SPAN_INSTRUMENTATION);
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
const MAX_PATH = 256;
const MAX_QUERY = 512;
const MAX_USER_AGENT = 256;
const MAX_HOST = 128;

/** Where startTelemetry put the request tracer (none when the SDK is off). */
let requestTracer: RequestTracer | undefined;

export function setRequestTracer(value: RequestTracer | undefined): void {
  requestTracer = value;
}

const SERVER_CONTEXT = Symbol('bitrix24.serverContext');
type TracedRequest = IncomingMessage & { [SERVER_CONTEXT]?: Context };

/** The context holding the request's server span, for the app to pass on explicitly (ctx.state.serverContext). */
export function serverContextOf(request: IncomingMessage): Context | undefined {
  return (request as TracedRequest)[SERVER_CONTEXT];
}

/**
 * Wraps the app's request listener in one SERVER span per request (HTTP semantic conventions), in place of the
 * http and koa instrumentations: the incoming `traceparent` is continued, the span ends when the response is
 * finished or the connection closes, whichever comes first. The span is recorded as data and becomes an SDK
 * span only if its trace is exported (request-tracer.ts); the app receives it explicitly (serverContextOf),
 * not as the active context, so no context propagation runs on the request path.
 */
export function traceRequests(
  listener: RequestListener,
  tracer: RequestTracer | undefined = requestTracer,
): RequestListener {
  if (!tracer) return listener;
  return (request, response) => {
    const url = request.url ?? '/';
    const question = url.indexOf('?');
    const path = question < 0 ? url : url.slice(0, question);
    if (UNTRACED_PATHS.has(path)) return listener(request, response);
    const started = nowMillis();
    const remoteParent =
      request.headers.traceparent === undefined
        ? undefined
        : trace.getSpanContext(propagation.extract(ROOT_CONTEXT, request.headers));
    const method = KNOWN_METHODS.has(request.method ?? '') ? request.method! : '_OTHER';
    const recorded = tracer.start(remoteParent);
    const span = recorded.startSpan(
      serverTracer,
      method,
      SpanKind.SERVER,
      requestAttributes(request, method, path, url, question),
      undefined,
      started,
    );
    const end = (): void => endServerSpan(span, response);
    response.once('finish', end);
    response.once('close', end);
    (request as TracedRequest)[SERVER_CONTEXT] = trace.setSpan(ROOT_CONTEXT, span);
    listener(request, response);
  };
}

/**
 * The route the app matched: the server span's `http.route` and, for the service's own span, its name
 * (`POST /api/bitrix/webhook`). Under the http instrumentation (the old path) only the attribute is set.
 */
export function nameServerRoute(serverContext: Context | undefined, route: string | undefined): void {
  if (route === undefined || serverContext === undefined) return;
  const span = trace.getSpan(serverContext);
  if (!span) return;
  span.setAttribute('http.route', route);
  if (span instanceof RecordedSpan && span.kind === SpanKind.SERVER) {
    const method = span.attributes['http.request.method'];
    if (typeof method === 'string') span.updateName(`${method} ${route}`);
  }
}

function endServerSpan(span: Span, response: ServerResponse): void {
  if (span.isRecording()) {
    if (response.headersSent) {
      const status = response.statusCode;
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) {
        span.setAttribute('error.type', String(status));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
    }
    if (!response.writableFinished) {
      // The connection closed before the answer was complete: the client gave up, or the socket broke.
      span.setAttribute('error.type', 'connection_closed');
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'connection closed before the response was finished' });
    }
  }
  // Always ended, recording or not: the recorded trace is settled when its spans have ended.
  span.end();
}

function requestAttributes(
  request: IncomingMessage,
  method: string,
  path: string,
  url: string,
  question: number,
): Attributes {
  const socket = request.socket;
  const attributes: Attributes = {
    'http.request.method': method,
    'url.path': boundText(path, MAX_PATH),
    'url.scheme': (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    'network.protocol.version': request.httpVersion,
  };
  if (method === '_OTHER') attributes['http.request.method_original'] = boundText(request.method ?? '', 32);
  if (question >= 0) attributes['url.query'] = boundText(redactQueryValues(url.slice(question + 1)), MAX_QUERY);
  if (socket.remoteAddress !== undefined) attributes['client.address'] = socket.remoteAddress;
  if (socket.remotePort !== undefined) attributes['client.port'] = socket.remotePort;
  const host = hostAndPort(request.headers.host);
  if (host.address !== undefined) attributes['server.address'] = host.address;
  const port = host.port ?? socket.localPort;
  if (port !== undefined) attributes['server.port'] = port;
  const userAgent = request.headers['user-agent'];
  if (userAgent !== undefined) attributes['user_agent.original'] = boundText(userAgent, MAX_USER_AGENT);
  return attributes;
}

/** `name`, `name:port`, `[v6]` or `[v6]:port` from the Host header; linear, no regex. */
export function hostAndPort(header: string | undefined): { address?: string; port?: number } {
  if (!header) return {};
  let address: string;
  let rest: string;
  if (header.startsWith('[')) {
    const close = header.indexOf(']');
    if (close < 0) return { address: boundText(header, MAX_HOST) };
    address = header.slice(1, close);
    rest = header.slice(close + 1);
  } else {
    const colon = header.lastIndexOf(':');
    address = colon < 0 ? header : header.slice(0, colon);
    rest = colon < 0 ? '' : header.slice(colon);
  }
  const result: { address?: string; port?: number } = { address: boundText(address, MAX_HOST) };
  if (rest.startsWith(':') && rest.length > 1 && rest.length <= 6) {
    const port = Number(rest.slice(1));
    if (Number.isInteger(port) && port > 0 && port < 65536) result.port = port;
  }
  return result;
}
