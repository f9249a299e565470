// A tiny browser-like client for the operator console: keeps the session cookie, reads the CSRF field.
import type { JsonRecord } from './ndjson';
export const ADMIN_TOKEN = 'adm1n-t0ken-for-tests-0123456789abcdef';

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json?: JsonRecord;
}

export class AdminClient {
  cookie: string | undefined;
  constructor(readonly base: string) {}

  async request(
    path: string,
    init: RequestInit & { form?: Record<string, string | string[]>; jsonBody?: unknown } = {},
  ): Promise<Answer> {
    const headers = new Headers(init.headers);
    if (this.cookie && !headers.has('cookie')) headers.set('cookie', this.cookie);
    let body = init.body;
    if (init.form) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(init.form)) for (const item of [value].flat()) params.append(key, item);
      body = params.toString();
      headers.set('content-type', 'application/x-www-form-urlencoded');
    }
    if (init.jsonBody !== undefined) {
      body = JSON.stringify(init.jsonBody);
      headers.set('content-type', 'application/json');
    }
    const response = await fetch(`${this.base}${path}`, { ...init, headers, body: body ?? null, redirect: 'manual' });
    const text = await response.text();
    let json: JsonRecord | undefined;
    try {
      json = JSON.parse(text) as JsonRecord;
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  }

  async signIn(token = ADMIN_TOKEN, headers: Record<string, string> = {}): Promise<Answer> {
    const answer = await this.request('/admin/session', { method: 'POST', form: { token }, headers });
    const setCookie = answer.headers.get('set-cookie');
    if (answer.status === 303 && setCookie) this.cookie = setCookie.split(';')[0];
    return answer;
  }

  /** The CSRF token the console page carries in its forms. */
  async csrf(): Promise<string> {
    const page = await this.request('/admin');
    const match = /name="csrf" value="([^"]+)"/.exec(page.text);
    if (!match) throw new Error(`no CSRF field on the console page (status ${page.status})`);
    return match[1]!;
  }
}
