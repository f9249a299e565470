import { fingerprint } from '../verify/fingerprint';

/** Reads a token from standard input (one trailing newline is not part of it) and prints its fingerprint. */
export async function fingerprintCommand(
  options: { json?: boolean },
  input: NodeJS.ReadableStream = process.stdin,
): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  const token = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (token === '') {
    process.stderr.write(
      'fingerprint: no token on standard input (try: printf %s "$TOKEN" | bitrix24-webhook-guard fingerprint)\n',
    );
    return 1;
  }
  const print = fingerprint(token);
  process.stdout.write(options.json ? `${JSON.stringify({ fingerprint: print })}\n` : `${print}\n`);
  return 0;
}
