// One request with exactly the framing asked for: Content-Length or Transfer-Encoding: chunked (two chunks),
// on a connection of its own, so the headers the service sees are exactly `headers` plus Host and Connection.

import http from 'node:http';

export interface ExactRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  chunked?: boolean;
}

export interface ExactAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export function exactRequest(baseUrl: string, request: ExactRequest): Promise<ExactAnswer> {
  const url = new URL(request.path, baseUrl);
  const body = request.body === undefined ? Buffer.alloc(0) : Buffer.from(request.body);
  const headers: Record<string, string> = { ...(request.headers ?? {}) };
  if (request.chunked) headers['transfer-encoding'] = 'chunked';
  else if (request.body !== undefined) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent: false,
        host: url.hostname,
        port: url.port,
        method: request.method ?? 'POST',
        path: url.pathname + url.search,
        headers,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
    if (request.chunked && body.length > 1) {
      req.write(body.subarray(0, body.length >> 1));
      req.end(body.subarray(body.length >> 1));
    } else {
      req.end(body);
    }
  });
}
