import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type Attributes, type Span } from '@opentelemetry/api';
import { boundText } from './bound-text';
import { SERVER_SPAN_INSTRUMENTATION } from '../vocabulary/names';
import { redactQueryValues } from './redact';

/** Requests that are not deliveries: tracing them only adds noise to the trace store. */
export const UNTRACED_PATHS = new Set(['/metrics', '/healthz', '/readyz']);

const tracer = trace.getTracer(SERVER_SPAN_INSTRUMENTATION);
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
const MAX_PATH = 256;
const MAX_QUERY = 512;
const MAX_USER_AGENT = 256;
const MAX_HOST = 128;

/**
 * Wraps the app's request listener in one SERVER span per request (HTTP semantic conventions), in place of the
 * http and koa instrumentations: the incoming `traceparent` is continued, the span is active while the app runs
 * and ends when the response is finished or the connection closes, whichever comes first.
 */
export function traceRequests(listener: RequestListener): RequestListener {
  return (request, response) => {
    const url = request.url ?? '/';
    const question = url.indexOf('?');
    const path = question < 0 ? url : url.slice(0, question);
    if (UNTRACED_PATHS.has(path)) return listener(request, response);
    const parent = request.headers.traceparent === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, request.headers);
    const method = KNOWN_METHODS.has(request.method ?? '') ? request.method! : '_OTHER';
    const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes: requestAttributes(request, method, path, url, question) }, parent);
    const end = (): void => endServerSpan(span, response);
    response.once('finish', end);
    response.once('close', end);
    context.with(trace.setSpan(parent, span), () => listener(request, response));
  };
}

/**
 * The route the app matched: the span's `http.route` and its name (`POST /api/bitrix/webhook`). The app calls
 * this with its active span; under the http instrumentation (the old path) it sets only the attribute.
 */
export function nameServerRoute(route: string | undefined): void {
  if (route === undefined) return;
  const span = trace.getActiveSpan();
  if (!span) return;
  span.setAttribute('http.route', route);
  const method = (span as unknown as { attributes?: Attributes }).attributes?.['http.request.method'];
  if (typeof method === 'string' && (span as unknown as { instrumentationScope?: { name: string } }).instrumentationScope?.name === SERVER_SPAN_INSTRUMENTATION) {
    span.updateName(`${method} ${route}`);
  }
}

function endServerSpan(span: Span, response: ServerResponse): void {
  if (!span.isRecording()) return;
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
  span.end();
}

function requestAttributes(request: IncomingMessage, method: string, path: string, url: string, question: number): Attributes {
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
