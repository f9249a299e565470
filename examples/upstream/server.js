// An example application behind bitrix24-webhook-guard: it receives forwarded events, verifies their
// Standard Webhooks signature (the same check any Standard Webhooks library makes) and logs each event.
// Plain Node.js, no dependencies:  UPSTREAM_SIGNING_SECRET=whsec_… PORT=4000 node server.js
'use strict';
const http = require('node:http');
const crypto = require('node:crypto');

const secret = process.env.UPSTREAM_SIGNING_SECRET || '';
if (!secret.startsWith('whsec_')) {
  console.error('UPSTREAM_SIGNING_SECRET must be the whsec_… secret the guard signs with (FORWARD_SIGNING_SECRET)');
  process.exit(2);
}
const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
const port = Number(process.env.PORT || 4000);
/** Signatures older or newer than this are refused (replay protection), as Standard Webhooks libraries do. */
const TOLERANCE_SECONDS = 5 * 60;
const BODY_LIMIT = 1024 * 1024;
/** webhook-id values seen lately: delivery is at least once, so a repeat is acknowledged and skipped. */
const seen = new Set();
const SEEN_LIMIT = 10000;

function log(fields) {
  process.stdout.write(JSON.stringify({ timestamp: new Date().toISOString(), ...fields }) + '\n');
}

/** null when the request is authentic, else the reason. */
function verify(headers, body) {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string') return 'missing webhook-* headers';
  const seconds = Number(timestamp);
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - seconds) > TOLERANCE_SECONDS) return 'timestamp outside the tolerance';
  const expected = crypto.createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
  // The header may carry several space-separated signatures (during a secret rotation): any v1 match counts.
  for (const entry of signatures.split(' ')) {
    const [version, value] = entry.split(',', 2);
    if (version !== 'v1' || !value) continue;
    const given = Buffer.from(value, 'base64');
    if (given.length === expected.length && crypto.timingSafeEqual(given, expected)) return null;
  }
  return 'no matching signature';
}

const server = http.createServer((request, response) => {
  if (request.method !== 'POST') {
    response.writeHead(request.url === '/healthz' ? 200 : 405).end();
    return;
  }
  const chunks = [];
  let size = 0;
  request.on('data', (chunk) => {
    size += chunk.length;
    if (size > BODY_LIMIT) request.destroy();
    else chunks.push(chunk);
  });
  request.on('end', () => {
    const body = Buffer.concat(chunks);
    const problem = verify(request.headers, body);
    const id = request.headers['webhook-id'];
    if (problem) {
      log({ level: 'warn', message: 'refused: signature check failed', reason: problem });
      response.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: problem }));
      return;
    }
    if (seen.has(id)) {
      log({ level: 'info', message: 'duplicate delivery acknowledged', webhook_id: id });
      response.writeHead(204).end();
      return;
    }
    seen.add(id);
    if (seen.size > SEEN_LIMIT) seen.delete(seen.values().next().value);
    let event = {};
    const type = String(request.headers['content-type'] || '');
    if (type.startsWith('application/json')) event = JSON.parse(body.toString('utf8'));
    else event = { event: new URLSearchParams(body.toString('utf8')).get('event') };
    log({ level: 'info', message: 'event received', webhook_id: id, webhook: event.webhook, event: event.event, portal: event.portal && event.portal.domain, received_at: event.received_at });
    response.writeHead(204).end();
  });
});

server.listen(port, '0.0.0.0', () => log({ level: 'info', message: 'listening', port }));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
