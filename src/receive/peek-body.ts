import type { Context } from 'koa';
import { RAW_PREFIX_LENGTH } from '../verify/diagnose';

/** How long a POST to a wrong path may take to show its body before it is answered without the rest. */
const PEEK_TIMEOUT_MS = 1000;

export interface PeekedBody {
  /** The bytes read, as UTF-8 text; absent when none were read. */
  raw?: string;
  /** True when `raw` is the whole body (it ended within the bytes and the time allowed). */
  whole?: boolean;
}

/**
 * The body posted to a wrong path, to tell a Bitrix24 delivery at a mistyped URL from a scanner, and to keep
 * it whole when it is one. Reads at most `maxBytes` (RAW_PREFIX_LENGTH unless the caller reserved more in
 * the body budget) for at most PEEK_TIMEOUT_MS, then stops listening: the rest is never buffered (the answer
 * closes the connection when the body is left unread).
 */
export function peekBody(ctx: Context, maxBytes: number = RAW_PREFIX_LENGTH): Promise<PeekedBody> {
  const declared = ctx.request.length;
  const chunked = ctx.get('transfer-encoding') !== '';
  const encoding = ctx.get('content-encoding').trim().toLowerCase();
  if ((!(declared > 0) && !chunked) || (encoding !== '' && encoding !== 'identity') || ctx.req.readableEnded)
    return Promise.resolve({});
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let ended = false;
    const finish = () => {
      clearTimeout(timer);
      ctx.req.off('data', onData).off('end', onEnd).off('error', finish).off('close', finish);
      ctx.req.pause();
      const bytes = Buffer.concat(chunks);
      resolve({ raw: bytes.subarray(0, maxBytes).toString('utf8'), whole: ended && bytes.length <= maxBytes });
    };
    const onEnd = () => {
      ended = true;
      finish();
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length > maxBytes) finish();
    };
    const timer = setTimeout(finish, PEEK_TIMEOUT_MS);
    ctx.req.on('data', onData).once('end', onEnd).once('error', finish).once('close', finish);
  });
}
