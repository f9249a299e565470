// A small HTTP client for the robustness tests: sends exact bytes and headers (node:http, keep-alive),
// measures the answer time, and counts every request sent to the webhook route.

import fs from 'node:fs';
import http from 'node:http';
import { expect } from 'chai';
import { spawnService, type RunningService } from '../../support/spawn-service';
import { deliveryShapes, httpBuildQuery, FORM_CONTENT_TYPE } from '../../../scripts/bench/deliveries';

export const WEBHOOK_PATH = '/api/bitrix/webhook';

/** The answers the contract allows on the webhook route, with the reason each one carries. */
export const CONTRACT_ANSWERS: Record<number, { status: string; reason?: string }> = {
  200: { status: 'accepted' },
  400: { status: 'rejected', reason: 'malformed_body' },
  401: { status: 'rejected', reason: 'token_missing' },
  403: { status: 'rejected', reason: 'token_mismatch' },
  413: { status: 'rejected', reason: 'payload_too_large' },
  415: { status: 'rejected', reason: 'unsupported_media_type' },
};

export interface Answer {
  status: number;
  body: string;
  json: unknown;
  ms: number;
  headers: http.IncomingHttpHeaders;
}

export interface SendOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Send the body with Transfer-Encoding: chunked (in two writes) instead of Content-Length. */
  chunked?: boolean;
  /** Use a connection of its own (closed afterwards) instead of the keep-alive pool. */
  fresh?: boolean;
  /**
   * The server may answer from the headers alone (Content-Length over the limit): wait up to this long for that
   * answer before sending the body, so the upload does not race the server's close (EPIPE, answer lost).
   */
  answerFromHeadersMs?: number;
  timeoutMs?: number;
}

export class Client {
  /** Requests sent to the webhook route (any method/query) and answered. */
  webhookRequests = 0;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  constructor(readonly baseUrl: string) {}

  close(): void {
    this.agent.destroy();
  }

  send(options: SendOptions): Promise<Answer> {
    const url = new URL(options.path ?? WEBHOOK_PATH, this.baseUrl);
    const body =
      options.body === undefined
        ? undefined
        : Buffer.isBuffer(options.body)
          ? options.body
          : Buffer.from(options.body, 'utf8');
    const headers: Record<string, string | string[]> = { ...(options.headers ?? {}) };
    if (body && !options.chunked && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
      headers['content-length'] = String(body.length);
    }
    if (options.fresh) headers.connection = 'close';
    const started = process.hrtime.bigint();
    return new Promise<Answer>((resolve, reject) => {
      let answered = false;
      const req = http.request(
        {
          agent: options.fresh ? false : this.agent,
          host: url.hostname,
          port: url.port,
          method: options.method ?? 'POST',
          path: url.pathname + url.search,
          headers,
          timeout: options.timeoutMs ?? 10_000,
        },
        (res) => {
          answered = true;
          const chunks: Buffer[] = [];
          let done = false;
          const finish = () => {
            if (done) return;
            done = true;
            // An upload cut short by the answer leaves its connection unusable.
            if (!req.writableEnded) req.destroy();
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            if (url.pathname === WEBHOOK_PATH) this.webhookRequests++;
            resolve({
              status: res.statusCode ?? 0,
              body: text,
              json,
              headers: res.headers,
              ms: Number(process.hrtime.bigint() - started) / 1e6,
            });
          };
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', finish);
          // The server may answer (413) and close while the upload is still being written: what arrived is the answer.
          res.on('close', finish);
          res.on('error', () => {});
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer in ${options.timeoutMs ?? 10_000} ms`)));
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (answered) return;
        // EPIPE/ECONNRESET while writing: the server may already have answered; its answer is read first if so.
        if (error.code === 'EPIPE' || error.code === 'ECONNRESET') setTimeout(() => answered || reject(error), 200);
        else reject(error);
      });
      if (!body) return void req.end();
      // In slices (chunked: one chunk each), one per turn of the event loop so an answer that arrived is read
      // before the next write, stopping as soon as the answer starts: a server that answers 413 early and closes
      // then ends the upload, instead of an EPIPE ending the test.
      const slices = sliced(body, 16 * 1024);
      const writeNext = (index: number): void => {
        if (answered || index >= slices.length) return;
        const slice = slices[index]!;
        if (index === slices.length - 1) return void req.end(slice);
        // Oversized uploads (fresh connections) at a pace the server reads at, so that little is in flight when it
        // answers and closes.
        const next = () =>
          options.fresh ? setTimeout(() => writeNext(index + 1), 1) : setImmediate(() => writeNext(index + 1));
        if (req.write(slice)) next();
        else req.once('drain', next);
      };
      if (options.answerFromHeadersMs !== undefined && !options.chunked) {
        req.flushHeaders();
        setTimeout(() => writeNext(0), options.answerFromHeadersMs);
      } else {
        writeNext(0);
      }
    });
  }

  /** A form delivery exactly as Bitrix24 sends it. */
  deliver(token: string | undefined, shape = 0, extra: SendOptions = {}): Promise<Answer> {
    return this.send({
      ...extra,
      headers: { 'content-type': FORM_CONTENT_TYPE, ...(extra.headers ?? {}) },
      body: httpBuildQuery(deliveryShapes(token)[shape % deliveryShapes(token).length]!.data),
    });
  }
}

function sliced(body: Buffer, size: number): Buffer[] {
  if (body.length <= size) return [body];
  const slices: Buffer[] = [];
  for (let at = 0; at < body.length; at += size) slices.push(body.subarray(at, at + size));
  return slices;
}

/** Asserts the answer is one the contract allows on the webhook route, with the matching JSON body. */
export function expectContractAnswer(answer: Answer, context = ''): void {
  const allowed = CONTRACT_ANSWERS[answer.status];
  expect(
    allowed,
    `status ${answer.status} is not a contract answer ${context}; body: ${answer.body.slice(0, 300)}`,
  ).to.not.equal(undefined);
  expect(answer.json, `answer body is not the contract JSON ${context}: ${answer.body.slice(0, 300)}`).to.deep.include(
    allowed!,
  );
}

/** Runs async jobs with bounded concurrency. */
export async function pool<T>(
  items: T[],
  concurrency: number,
  job: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      await job(items[index]!, index);
    }
  });
  await Promise.all(workers);
}

export function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN) * 1024;
}

/**
 * Registers mocha hooks that start the real service with `env` (and a Client for it) before the suite and
 * stop both after it. The returned holder is filled in by the time the tests run.
 */
export function useRunningService(env: Record<string, string>): { service: RunningService; client: Client } {
  const holder = {} as { service: RunningService; client: Client };
  before(async () => {
    holder.service = await spawnService({ env });
    holder.client = new Client(holder.service.url);
  });
  after(async () => {
    holder.client?.close();
    if (holder.service) await holder.service.stop();
  });
  return holder;
}
