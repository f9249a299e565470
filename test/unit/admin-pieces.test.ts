// Issue 19, the console's pure pieces: escaping, the signed session and its CSRF token, the sign-in limiter,
// the runbook's words for every diagnosis, the chart's buckets, and the configuration's errors.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { parseAdminConfig } from '../../src/admin/config';
import { fillBuckets, refusalChart } from '../../src/admin/chart';
import { escapeHtml, html } from '../../src/admin/html';
import { loadDiagnosisWords, parseDiagnosisWords } from '../../src/admin/runbook-words';
import { createSessions } from '../../src/admin/session';
import { createSignInLimiter } from '../../src/admin/sign-in-limiter';
import { parseAutoReplay } from '../../src/recover/config';
import { DIAGNOSES } from '../../src/vocabulary/names';

const TOKEN = 'adm1n-t0ken-for-tests-0123456789abcdef';
const noFile = () => {
  throw Object.assign(new Error('no'), { code: 'ENOENT' });
};

describe('console pieces', () => {
  it('escapes markup, quotes and control characters; interpolations in html`` are escaped, Raw is not', () => {
    expect(escapeHtml('<script>"a"&\'b\'</script>\u0000\u0007\u001b\u007f\u2028\tok\n')).to.equal(
      '&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;\\u0000\\u0007\\u001b\\u007f\\u2028\tok\n',
    );
    expect(html`<p title="${'"><img>'}">${html`<b>${'<i>'}</b>`}</p>`.html).to.equal(
      '<p title="&quot;&gt;&lt;img&gt;"><b>&lt;i&gt;</b></p>',
    );
  });

  it('signs sessions: a tampered, expired or foreign cookie is refused; the CSRF token is bound to the session', () => {
    const sessions = createSessions(TOKEN, 60_000);
    const at = Date.UTC(2026, 0, 1);
    const { cookieValue, session } = sessions.create(at);
    expect(sessions.read(cookieValue, at + 1)).to.deep.equal(session);
    expect(sessions.read(cookieValue, at + 60_000)).to.equal(undefined);
    const [id, expires, mac] = cookieValue.split('.');
    expect(sessions.read(`${id}.${Number(expires) + 1000}.${mac}`, at + 1)).to.equal(undefined);
    expect(createSessions(`${TOKEN}x`, 60_000).read(cookieValue, at + 1)).to.equal(undefined);
    expect(sessions.csrfMatches(session, session.csrf)).to.equal(true);
    expect(sessions.csrfMatches(session, sessions.create().session.csrf)).to.equal(false);
    expect(sessions.csrfMatches(session, undefined)).to.equal(false);
    expect(sessions.tokenMatches(TOKEN)).to.equal(true);
    expect(sessions.tokenMatches(TOKEN.slice(0, -1))).to.equal(false);
    expect(cookieValue.includes(TOKEN)).to.equal(false);
  });

  it('limits failed sign-ins per client and in total within the window', () => {
    const limiter = createSignInLimiter({ perClient: 2, total: 3, windowMs: 10_000 });
    limiter.recordFailure('a', 0);
    expect(limiter.retryAfterSeconds('a', 1)).to.equal(0);
    limiter.recordFailure('a', 1000);
    expect(limiter.retryAfterSeconds('a', 2000)).to.equal(8);
    expect(limiter.retryAfterSeconds('b', 2000)).to.equal(0);
    limiter.recordFailure('b', 2000);
    expect(limiter.retryAfterSeconds('c', 3000)).to.equal(7);
    expect(limiter.retryAfterSeconds('a', 11_000)).to.equal(0);
  });

  it('finds the cause and the fix of every diagnosis in docs/runbooks.md', () => {
    const words = loadDiagnosisWords(path.resolve(__dirname, '../../../docs/runbooks.md'));
    expect(
      DIAGNOSES.filter((diagnosis) => !words.get(diagnosis)?.cause || !words.get(diagnosis)?.advice),
    ).to.deep.equal([]);
    expect(words.get('not_configured')!.advice).to.match(/^Set BITRIX24_OUTGOING_WEBHOOK_TOKEN/);
    expect(
      parseDiagnosisWords(
        '### Diagnosis: `x`\n**What it means.** A `b` c. **Confirm.** d. **Fix.** Do **e**.\n## Next',
      ).get('x'),
    ).to.deep.equal({ cause: 'A b c.', advice: 'Do e.' });
    expect(readFileSync(path.resolve(__dirname, '../../../Dockerfile'), 'utf8')).to.include(
      'COPY docs/runbooks.md ./docs/runbooks.md',
    );
  });

  it('draws one bar per bucket, zeros included, with a description for screen readers', () => {
    const from = new Date('2026-01-01T10:00:00Z');
    const buckets = fillBuckets([{ start: new Date('2026-01-01T10:10:00Z'), count: 4 }], from, 300_000, 12);
    expect(buckets.map((bucket) => bucket.count)).to.deep.equal([0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const svg = refusalChart(buckets, 5).html;
    expect(svg.match(/<rect /g)).to.have.length(12);
    expect(svg).to.include(
      '<desc id="refusals-desc">4 refused deliveries kept in the last hour, per 5 minutes: 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0</desc>',
    );
  });

  it('reads its variables, with errors that name them', () => {
    expect(parseAdminConfig({}, noFile)).to.deep.equal({
      token: undefined,
      managementPort: undefined,
      trustProxy: false,
      sessionMs: 8 * 3_600_000,
    });
    expect(
      parseAdminConfig(
        { ADMIN_TOKEN: ` ${TOKEN}\n`, MANAGEMENT_PORT: '9100', TRUST_PROXY: 'on', ADMIN_SESSION_HOURS: '1' },
        noFile,
      ),
    ).to.deep.equal({
      token: TOKEN,
      managementPort: 9100,
      trustProxy: true,
      sessionMs: 3_600_000,
    });
    expect(parseAdminConfig({ ADMIN_TOKEN_FILE: '/run/secrets/admin' }, () => `${TOKEN}\n`).token).to.equal(TOKEN);
    expect(() => parseAdminConfig({ ADMIN_TOKEN: 'short' }, noFile)).to.throw(
      /ADMIN_TOKEN: must be at least 16 characters \(it is 5\)/,
    );
    expect(() => parseAdminConfig({ ADMIN_TOKEN: TOKEN, ADMIN_TOKEN_FILE: '/x' }, noFile)).to.throw(
      /both ADMIN_TOKEN and ADMIN_TOKEN_FILE/,
    );
    expect(() => parseAdminConfig({ MANAGEMENT_PORT: 'x' }, noFile)).to.throw(/MANAGEMENT_PORT/);
    expect(parseAutoReplay({})).to.equal(true);
    expect(parseAutoReplay({ QUARANTINE_AUTO_REPLAY: 'off' })).to.equal(false);
    expect(() => parseAutoReplay({ QUARANTINE_AUTO_REPLAY: 'maybe' })).to.throw(/QUARANTINE_AUTO_REPLAY/);
  });
});
