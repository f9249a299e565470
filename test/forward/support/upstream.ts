import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export const SIGNING_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

export interface Received {
  id: string;
  timestamp: string;
  body: string;
  contentType: string;
  /** The signature checked by the independent `standardwebhooks` package. */
  verified: boolean;
  /** ms since the upstream started. */
  at: number;
  /** The status it was answered with (undefined while hanging or never answered). */
  status?: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Wait this long before answering (a hang past the worker's timeout). */
  delayMs?: number;
}

/** The user's application on loopback: records every request, checks its signature, answers as told. */
export class Upstream {
  readonly received: Received[] = [];
  /** Requests being handled right now, and the most at once. */
  active = 0;
  maxActive = 0;
  reply: (request: Received, nthForId: number) => Reply = () => ({ status: 200 });
  private server?: http.Server;
  private readonly started = Date.now();
  private readonly webhook = new Webhook(SIGNING_SECRET);

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/hooks/bitrix?key=s3cret`;
  }

  async start(port = 0): Promise<void> {
    this.server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers = {
          'webhook-id': String(request.headers['webhook-id'] ?? ''),
          'webhook-timestamp': String(request.headers['webhook-timestamp'] ?? ''),
          'webhook-signature': String(request.headers['webhook-signature'] ?? ''),
        };
        let verified = true;
        try {
          this.webhook.verify(body, headers, { jsonParse: false });
        } catch {
          verified = false;
        }
        const received: Received = {
          id: headers['webhook-id'],
          timestamp: headers['webhook-timestamp'],
          body,
          contentType: String(request.headers['content-type'] ?? ''),
          verified,
          at: Date.now() - this.started,
        };
        this.received.push(received);
        const nth = this.received.filter((r) => r.id === received.id).length;
        const reply = this.reply(received, nth);
        this.active += 1;
        this.maxActive = Math.max(this.maxActive, this.active);
        const answer = () => {
          this.active -= 1;
          if (response.destroyed) return;
          received.status = reply.status;
          response.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
          response.end(reply.body ?? '');
        };
        if (reply.delayMs) setTimeout(answer, reply.delayMs);
        else answer();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
  }

  /** Ids answered 2xx, each as many times as it was. */
  deliveredIds(): string[] {
    return this.received.filter((r) => r.status !== undefined && r.status < 300).map((r) => r.id);
  }

  async waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (received ${this.received.length})`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** A stored-event input as the request path saves it: the CRM deal form body, numbered. */
export function dealEvent(n: number, webhook = 'default') {
  return {
    receivedAt: new Date(),
    traceId: '0af7651916cd43dd8448eb211c80319c',
    webhook,
    event: 'ONCRMDEALADD',
    eventHandlerId: '975',
    ts: '1766047124',
    domain: 'some-domain.bitrix24.com',
    memberId: 'd897063e1ce7c5eb9f04b9751eef5915',
    data: { FIELDS: { ID: String(n) } },
    rawBody: `event=ONCRMDEALADD&event_handler_id=975&data%5BFIELDS%5D%5BID%5D=${n}&ts=1766047124&auth%5Bdomain%5D=some-domain.bitrix24.com&auth%5Bmember_id%5D=d897063e1ce7c5eb9f04b9751eef5915&auth%5Bapplication_token%5D=jvh9y1ulvt2m6k5or90v9mg8nn32ozas`,
    contentType: 'application/x-www-form-urlencoded',
  };
}
