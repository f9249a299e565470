import type { RequestOptions } from 'node:http';
import type { Attributes } from '@opentelemetry/api';
import { boundText } from './bound-text';
import { redactQueryValues } from './redact';

const MAX_URL = 512;

/**
 * `url.full` and `url.query` of an outgoing request with every query value redacted and no user:password
 * (a forward URL may carry a token in either). Replaces what the http and undici instrumentations set. Linear.
 */
export function outgoingUrlAttributes(url: string): Attributes {
  const hash = url.indexOf('#');
  const withoutFragment = hash < 0 ? url : url.slice(0, hash);
  const question = withoutFragment.indexOf('?');
  const base = withoutUserInfo(question < 0 ? withoutFragment : withoutFragment.slice(0, question));
  if (question < 0) return { 'url.full': boundText(base, MAX_URL) };
  const query = redactQueryValues(withoutFragment.slice(question + 1));
  return { 'url.full': boundText(`${base}?${query}`, MAX_URL), 'url.query': boundText(query, MAX_URL) };
}

/** The URL of an http.request's options, as the http instrumentation builds it. */
export function requestOptionsUrl(options: RequestOptions): string {
  const protocol = options.protocol ?? 'http:';
  const host = options.hostname ?? options.host ?? 'localhost';
  return `${protocol}//${host}${options.port ? `:${options.port}` : ''}${options.path ?? '/'}`;
}

function withoutUserInfo(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme < 0) return url;
  const pathStart = url.indexOf('/', scheme + 3);
  const authorityEnd = pathStart < 0 ? url.length : pathStart;
  const at = url.lastIndexOf('@', authorityEnd - 1);
  return at > scheme ? url.slice(0, scheme + 3) + url.slice(at + 1) : url;
}
