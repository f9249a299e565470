import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { ENV } from '../vocabulary/env-names';
import { REFUSAL_LOG_INTERVAL_MS } from '../receive/limits';
import { rateLimitedWarn } from '../receive/rate-limited-log';
import type { Logger } from '../telemetry/logger';
import type { ServiceMetrics } from '../telemetry/metrics';
import { recordNodeAnswer } from '../telemetry/node-answers';

const TIMEOUT_BODY = JSON.stringify({ status: 'rejected', reason: 'request_timeout' });
const RAW_ANSWERS: Record<string, string> = {
  ERR_HTTP_REQUEST_TIMEOUT:
    `HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(TIMEOUT_BODY)}\r\nConnection: close\r\n\r\n${TIMEOUT_BODY}`,
  HPE_HEADER_OVERFLOW: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n',
};
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';

/**
 * What Node decides before the app sees a request, counted and logged like the app's own refusals:
 * a request cut by the server's header or request timeout is a `408 request_timeout` (Node's default
 * answer would be a bare 408 the metrics never see); a connection past MAX_CONNECTIONS, closed at once
 * by Node, is `overloaded`. Other parse errors keep Node's default answers.
 */
export function guardConnections(
  server: http.Server,
  metrics: ServiceMetrics,
  logger: Logger,
  maxConnections: number,
): void {
  server.maxConnections = maxConnections;
  const warnTimeout = rateLimitedWarn(logger, REFUSAL_LOG_INTERVAL_MS);
  const warnDropped = rateLimitedWarn(logger, REFUSAL_LOG_INTERVAL_MS);

  server.on('drop', () => {
    metrics.recordRejection('overloaded');
    warnDropped('connection refused: open connections at their bound', {
      reason: 'overloaded',
      detail: `${maxConnections} connections open (${ENV.maxConnections})`,
    });
  });

  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const code = error.code ?? '';
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      metrics.recordRejection('request_timeout');
      warnTimeout('request rejected: not received in time', {
        reason: 'request_timeout',
        detail: "cut by the server's header or request timeout",
      });
    }
    // As Node's default: answer only when nothing of an answer was written on this connection yet.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent) {
      const answer = RAW_ANSWERS[code] ?? BAD_REQUEST;
      recordNodeAnswer(Number(answer.slice(9, 12)));
      socket.write(answer);
    }
    socket.destroy(error);
  });
}
