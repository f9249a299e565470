import type { Context } from 'koa';
import { RAW_PREFIX_LENGTH } from '../verify/diagnose';

/** How long a POST to a wrong path may take to show its first bytes before it is answered without them. */
const PEEK_TIMEOUT_MS = 1000;

/**
 * The first bytes of a body posted to a wrong path, to tell a Bitrix24 delivery at a mistyped URL from a
 * scanner. Reads at most RAW_PREFIX_LENGTH bytes for at most PEEK_TIMEOUT_MS, then stops listening: the
 * rest is never buffered (the answer closes the connection when the body is left unread).
 */
export function peekBody(ctx: Context): Promise<{ raw?: string }> {
  const declared = ctx.request.length;
  const chunked = ctx.get('transfer-encoding') !== '';
  const encoding = ctx.get('content-encoding').trim().toLowerCase();
  if ((!(declared > 0) && !chunked) || (encoding !== '' && encoding !== 'identity') || ctx.req.readableEnded) return Promise.resolve({});
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const finish = () => {
      clearTimeout(timer);
      ctx.req.off('data', onData).off('end', finish).off('error', finish).off('close', finish);
      ctx.req.pause();
      resolve({ raw: Buffer.concat(chunks).toString('utf8').slice(0, RAW_PREFIX_LENGTH) });
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= RAW_PREFIX_LENGTH) finish();
    };
    const timer = setTimeout(finish, PEEK_TIMEOUT_MS);
    ctx.req.on('data', onData).once('end', finish).once('error', finish).once('close', finish);
  });
}
