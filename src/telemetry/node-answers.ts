import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { NODE_ANSWER_STATUSES } from './names';

type NodeAnswerStatus = (typeof NODE_ANSWER_STATUSES)[number];

/** Requests Node's HTTP server answered itself, before the app saw them; process-wide, read by /metrics. */
export const answeredByNode: Record<NodeAnswerStatus, number> = { '400': 0, '408': 0, '413': 0, '431': 0 };

const RESPONSES: Record<NodeAnswerStatus, string> = {
  '400': 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n',
  '408': 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
  '413': 'HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n',
  '431': 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
};

const STATUS_OF: Record<string, NodeAnswerStatus> = {
  ERR_HTTP_REQUEST_TIMEOUT: '408',
  HPE_HEADER_OVERFLOW: '431',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: '413',
};

/**
 * Counts the answers Node gives on its own (a request cut by `requestTimeout`/`headersTimeout`, a request
 * that does not parse, headers too large), which no app middleware or server span sees. Listening to
 * `clientError` replaces Node's default answer, so it is written here exactly as Node would: only on a socket
 * that is still writable and has not answered yet; a reset connection gets no answer and is not counted.
 */
export function countNodeAnswers(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable && socket.bytesWritten === 0 && error.code !== 'ECONNRESET') {
      const status = STATUS_OF[error.code ?? ''] ?? '400';
      answeredByNode[status]++;
      socket.write(RESPONSES[status]);
    }
    socket.destroy(error);
  });
}
