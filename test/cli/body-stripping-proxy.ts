import http from 'node:http';
import { LoopbackHttpServer } from '../support/loopback-http';

/**
 * A reverse proxy on loopback that forwards every request to `target`, either intact or with its body
 * dropped (Content-Length 0, headers otherwise kept): what a misconfigured proxy or load balancer does.
 */
export function startProxy(target: string, stripBody: boolean): Promise<LoopbackHttpServer> {
  const server = new LoopbackHttpServer((request, body, response) => {
    const forwarded = stripBody ? Buffer.alloc(0) : body;
    const headers = { ...request.headers, 'content-length': String(forwarded.length) };
    delete headers['transfer-encoding'];
    const upstream = http.request(
      new URL(request.url ?? '/', target),
      { method: request.method, headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          response.writeHead(answer.statusCode ?? 502, {
            'content-type': answer.headers['content-type'] ?? 'text/plain',
          });
          response.end(Buffer.concat(chunks));
        });
      },
    );
    upstream.on('error', () => response.writeHead(502).end());
    upstream.end(forwarded);
  });
  return server.start().then(() => server);
}
