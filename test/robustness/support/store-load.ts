// Deliveries sent to a running service while its store is made to fail, each with its own deal id, so that
// every `200` can be looked up in the store afterwards.
import { expect } from 'chai';
import { CRM_DEAL_ADD } from '../../support/bitrix-bodies';
import type { JsonRecord } from '../../support/ndjson';
import type { RunningService } from '../../support/spawn-service';

export const WEBHOOK_PATH = '/api/bitrix/webhook';

export interface Sent {
  id: number;
  status: number;
  ms: number;
  reason?: string;
  retryAfter?: string | null;
}

/** A genuine deal-created delivery whose data[FIELDS][ID] is `id`. */
export function dealBody(id: number): string {
  return CRM_DEAL_ADD.replace('data%5BFIELDS%5D%5BID%5D=7405', `data%5BFIELDS%5D%5BID%5D=${id}`);
}

export async function deliver(service: RunningService, id: number, timeoutMs = 30_000): Promise<Sent> {
  const started = Date.now();
  try {
    const response = await fetch(`${service.url}${WEBHOOK_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: dealBody(id),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const json = (await response.json()) as { reason?: string };
    return {
      id,
      status: response.status,
      ms: Date.now() - started,
      reason: json.reason,
      retryAfter: response.headers.get('retry-after'),
    };
  } catch (error) {
    // Connection refused or no answer at all: recorded as status 0, which every test rejects.
    return { id, status: 0, ms: Date.now() - started, reason: (error as Error).message };
  }
}

/** `concurrency` senders deliver one after another until `stop()` resolves; ids count up from `firstId`. */
export function startLoad(
  service: RunningService,
  concurrency: number,
  firstId = 1,
): { results: Sent[]; stop(): Promise<Sent[]> } {
  const results: Sent[] = [];
  let next = firstId;
  let running = true;
  const senders = Array.from({ length: concurrency }, async () => {
    while (running) {
      results.push(await deliver(service, next++));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });
  return {
    results,
    async stop() {
      running = false;
      await Promise.all(senders);
      return results;
    },
  };
}

/** Only 200 and 503 store_unavailable (with Retry-After), and every 200 in the store. */
export function expectOnly200Or503(results: Sent[], storedIds: Set<number>): void {
  const others = results.filter(
    (sent) => sent.status !== 200 && !(sent.status === 503 && sent.reason === 'store_unavailable'),
  );
  expect(others.slice(0, 5), `${others.length} answers other than 200 or 503 store_unavailable`).to.deep.equal([]);
  for (const sent of results.filter((result) => result.status === 503)) expect(sent.retryAfter).to.equal('5');
  const lost = results.filter((sent) => sent.status === 200 && !storedIds.has(sent.id)).map((sent) => sent.id);
  expect(lost, 'answered 200 but not in the store').to.deep.equal([]);
}

/** Deal ids of the stored events, from their `data` column (JSON text). */
export function dealIds(rows: Array<{ data: unknown }>): Set<number> {
  return new Set(rows.map((row) => Number((JSON.parse(String(row.data)) as { FIELDS?: { ID?: string } }).FIELDS?.ID)));
}

/** Waits until `check` passes, polling every 200 ms, for at most `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms: ${(last as Error)?.message}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** One GET, timed: its status, its text, and that text parsed when it is JSON (`undefined` when not: /metrics). */
export async function timedGet(
  url: string,
): Promise<{ status: number; ms: number; text: string; json: JsonRecord | undefined }> {
  const started = Date.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(20_000) });
  const text = await response.text();
  let json: JsonRecord | undefined;
  try {
    json = JSON.parse(text) as JsonRecord;
  } catch {
    json = undefined;
  }
  return { status: response.status, ms: Date.now() - started, text, json };
}
